"""The original project's command flow, typed word for word, on tiny stand-ins.

convert .pth -> dataset tools -> make_lq_data (val set) -> train.py --yml_path ->
export_model.py --model-dir <trained net_g> --save-inference-dir ./infer/ --block 23 ->
infer.py --model_path ./infer (and predict.py on the same weights). Each step reads
what the one before wrote; the model is a 23-block RRDBNet with 4 features.
"""
import json

import cv2
import pytest
import yaml

from tests.user_path import ROOT, run, workspace
from realesrgan_paddle.evaluation.metrics import psnr
from tests.skips import need_reference
from tests.nets import rrdb
from tests.cli_checks import a_line, one_line

TINY = rrdb(num_feat=4, num_block=23)


def _seed_yml(path):
    opt = yaml.safe_load((ROOT / 'options' / 'tiny_smoke.yml').read_text())
    opt.update(name='seed_tiny', model_type='RealESRNetModel', gt_size=48, queue_size=2, network_g=dict(TINY))
    opt.pop('network_d')
    opt['datasets']['train'].update(dataroot_gt='datasets/seed', meta_info='datasets/seed/meta_info/meta_info_seed.txt',
                                    crop_pad_size=96)
    opt['datasets']['val'].update(dataroot_gt='datasets/seed/val/gt', dataroot_lq='datasets/seed/val/lq')
    opt['path'] = {'pretrain_network_g': 'weights/seed_x4.pdparams', 'experiments_root': 'experiments'}
    opt['train'].update(total_iter=2, optim_d=None)
    opt['train']['losses'] = [e for e in opt['train']['losses'] if e['target'] != 'gan']  # no discriminator
    opt['train']['scheduler']['milestones'] = [100]
    opt['val']['val_freq'] = 2
    opt['logger'].update(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False)
    path.write_text(yaml.safe_dump(opt, sort_keys=False))


@pytest.mark.slow(seconds=24)
def test_seed_commands_chain_verbatim(tmp_path, hr_photos, torch):
    ta = need_reference()
    ws = workspace(tmp_path / 'project')
    torch.manual_seed(0)
    net = ta.RRDBNet(num_feat=4, num_block=23, num_grow_ch=4, scale=4)
    torch.save({'params_ema': net.state_dict()}, ws / 'seed_x4.pth')
    hr = ws / 'datasets' / 'seed' / 'HR'
    val_gt = ws / 'datasets' / 'seed' / 'val' / 'gt'
    hr.mkdir(parents=True)
    val_gt.mkdir(parents=True)
    photos = [p for p in hr_photos if cv2.imread(str(p)).ndim == 3][:3]
    for i, p in enumerate(photos):
        img = cv2.imread(str(p))
        img = cv2.resize(img, (240, 240 * img.shape[0] // img.shape[1]), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str((val_gt if i == 2 else hr) / f'{p.stem}.png'), img[:128, :128] if i == 2 else img)

    run('python tools/convert_torch.py --input seed_x4.pth --output weights/seed_x4.pdparams --block 23', ws)
    run('python tools/generate_multiscale.py --input datasets/seed/HR --output datasets/seed/HR_multiscale', ws)
    run('python tools/extract_subimages.py --input datasets/seed/HR_multiscale --output datasets/seed/HR_sub '
        '--crop_size 96 --step 48 --thresh_size 0', ws)
    run('python tools/generate_meta_info.py --input datasets/seed/HR_sub --root datasets/seed '
        '--meta_info datasets/seed/meta_info/meta_info_seed.txt', ws)
    run('python make_lq_data.py --input datasets/seed/val/gt --output datasets/seed/val/lq --scale 4 --seed 0', ws)
    _seed_yml(ws / 'options' / 'seed_tiny.yml')
    log = run('python train.py --yml_path options/seed_tiny.yml', ws).stderr
    a_line(log, 'validation', 'iter 2', '1 images')
    trained = ws / 'experiments' / 'seed_tiny' / 'models' / 'net_g_2.pdparams'
    assert trained.is_file()

    out = run('python tools/export_model.py --model-dir ./experiments/seed_tiny/models/net_g_2.pdparams '
              '--save-inference-dir ./infer/ --block 23', ws).stdout
    assert 'max abs diff' in out
    info = json.loads((ws / 'infer' / 'model_info.json').read_text())
    assert info['arch']['num_feat'] == 4 and info['arch']['num_block'] == 23  # the trained model, not the zoo's
    assert 'net_g_2.pdparams' in str(info['source'])

    run('python tools/infer.py --model_path ./infer --input datasets/seed/val/lq --output results/infer --suffix ""', ws)
    run('python tools/predict.py --model_path ./experiments/seed_tiny/models/net_g_2.pdparams --block 23 '
        '--input datasets/seed/val/lq --output results/predict --suffix ""', ws)
    name = f'{photos[2].stem}.png'
    a = cv2.imread(str(ws / 'results' / 'infer' / name))
    b = cv2.imread(str(ws / 'results' / 'predict' / name))
    assert a.shape == (128, 128, 3) and a.shape == b.shape
    assert psnr(a, b) > 40  # the same trained weights through the two runtimes


def test_export_without_a_model_is_refused_in_one_line(tmp_path):
    ws = workspace(tmp_path)
    res = run('python tools/export_model.py --save-inference-dir ./infer/ --block 23', ws, ok=False)
    assert res.returncode == 2
    one_line(res.stderr, '--model_path')  # one line naming the flag to pass
    assert not (ws / 'infer').exists()
    assert not (ws / 'infer').exists()


def test_model_dir_names_the_input_in_every_tool():
    from realesrgan_paddle.inference.upscale_cli import build_parser
    import importlib.util
    spec = importlib.util.spec_from_file_location('export_model_cli', ROOT / 'tools' / 'export_model.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ex = mod.parse_args(['--model-dir', 'w.pdparams', '--save-inference-dir', 'out'])
    assert (ex.model_path, ex.output) == ('w.pdparams', 'out')  # PaddleOCR's name, an alias of -o/--output
    for tool in ('infer.py', 'predict.py'):
        args = build_parser(tool, '', 'model').parse_args(['-i', 'x', '--model-dir', 'w.pdparams'])
        assert args.model_path == 'w.pdparams'
