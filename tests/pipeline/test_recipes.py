"""Recipe choice and options of the domain pipeline (pipeline/recipes.py), and the
warm-up timing that turns --budget into iterations."""
import pytest
import yaml

from pipeline import recipes as R
from pipeline.stages_model import seconds_per_iter

NONE = {'vgg19': None, 'netd': None}
BOTH = {'vgg19': '/cache/vgg19.pdparams', 'netd': '/cache/netd.pdparams'}


def test_parse_budget():
    assert R.parse_budget('30m') == 1800 and R.parse_budget('1h30m') == 5400 and R.parse_budget('90s') == 90
    assert R.parse_budget('2') == 120
    for bad in ('soon', '30x', '0m', ''):
        with pytest.raises(R.RecipeError):
            R.parse_budget(bad)


def test_templates_exist_and_pick_by_base_and_device():
    for kind in ('compact', 'x4plus'):
        for dev in ('cpu', 'gpu'):
            t, note = R.pick_template(kind, dev, NONE)
            assert t.is_file() and t.name == f'finetune_domain_{kind}_{dev}.yml'
            # offline: the CPU compact recipe says it stands in for the official one; others say what they drop
            assert (note is not None) == (kind == 'compact' and dev == 'cpu')
    assert 'VGG19 and RealESRGAN_x4plus_netD not cached' in R.pick_template('compact', 'cpu', NONE)[1]
    assert R.pick_template('compact', 'cpu', dict(BOTH, netd=None))[1].startswith('RealESRGAN_x4plus_netD not cached')
    t, note = R.pick_template('compact', 'cpu', BOTH)   # online user: the official recipe stays the default
    assert t.name == 'finetune_domain_compact_gpu.yml' and 'official recipe' in note


def _paths(tmp_path):
    for d in ('train_hr', 'val_hr', 'val_lq'):
        (tmp_path / d).mkdir(exist_ok=True)
    return {'train_hr': str(tmp_path / 'train_hr'), 'val_hr': str(tmp_path / 'val_hr'),
            'val_lq': str(tmp_path / 'val_lq'), 'experiments_root': str(tmp_path / 'exp')}


def test_options_filled_scaled_and_overridden(tmp_path):
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    raw = yaml.safe_load(t.read_text())
    arch = dict(raw['network_g'])
    opt, notes, over = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                       _paths(tmp_path), 60, NONE, ['-o', 'train.optim_g.lr=2e-4'][1:])
    assert opt['train']['total_iter'] == 60 and opt['logger']['save_checkpoint_freq'] == 15
    assert opt['train']['scheduler']['milestones'] == [round(m * 60 / raw['train']['total_iter'])
                                                       for m in raw['train']['scheduler']['milestones']]
    assert opt['datasets']['train']['dataroot_gt'] == str(tmp_path / 'train_hr')
    assert opt['path']['pretrain_network_g'] == 'realesr-animevideov3' and opt['device'] == 'cpu'
    assert opt['train']['optim_g']['lr'] == 2e-4 and opt['logger']['keep_last'] == 0


def test_fitted_degradation_brings_its_recipe_changes(tmp_path):
    """--lq-videos: the fragment's degradation and FITTED_RECIPE's loss changes for the template; the user's -o
    still win; without the fragment (no --lq-videos) nothing is added."""
    from pipeline.stages_model import fitted_overrides
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    assert fitted_overrides(tmp_path / 'absent.yml', t) == []
    frag = tmp_path / 'fitted.yml'
    frag.write_text(yaml.safe_dump({'scale': 4, 'l1_gt_usm': False, 'degradation': {
        'codec_prob': 1.0, 'codec_crf_range': [14.0, 21.0], 'second_blur_prob': 0.0}}))
    over = fitted_overrides(frag, t)
    assert 'degradation.codec_crf_range=[14.0, 21.0]' in over and 'l1_gt_usm=false' in over
    assert over[-len(R.fitted_recipe(t)):] == R.fitted_recipe(t) == ['train.pixel_opt.loss_weight=1.0']
    assert R.fitted_recipe(R.OPTIONS / 'finetune_domain_compact_gpu.yml') == []
    arch = yaml.safe_load(t.read_text())['network_g']
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                _paths(tmp_path), 30, NONE, over)
    assert opt['train']['pixel_opt']['loss_weight'] == 1.0 and opt['degradation']['codec_prob'] == 1.0
    assert opt['l1_gt_usm'] is False
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                _paths(tmp_path), 30, NONE, over + ['train.pixel_opt.loss_weight=0.5'])
    assert opt['train']['pixel_opt']['loss_weight'] == 0.5
    plain, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                  _paths(tmp_path), 30, NONE, [])
    assert plain['train']['pixel_opt']['loss_weight'] == 0.0 and plain['degradation'] == {}


def test_consistency_options_and_train_lq_frames(tmp_path):
    """The consistency loss with the fitted blur's middle and the real LQ folder; the LQ frames for it leave out
    the last --holdout of each clip (which the evaluation holds out)."""
    import json
    import subprocess

    from data.codec import codec_exe
    from pipeline.stages_model import write_train_lq
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    over = R.consistency_options(t, {'blur_sigma': [0.4, 0.8]}, tmp_path / 'lq')
    loss, data = (json.loads(o.split('=', 1)[1]) for o in over)
    assert over[0].startswith('train.consistency_opt=') and over[1].startswith('datasets.real_lq=')
    assert loss == {'type': 'ConsistencyLoss', 'loss_weight': 1.0, 'scale': 4, 'sigma': 0.6}
    assert data == {'dataroot_lq': str(tmp_path / 'lq'), 'crop': 24, 'batch_size': 2}
    assert R.consistency_options(R.OPTIONS / 'finetune_domain_x4plus_cpu.yml', {}, tmp_path) == []
    clip = tmp_path / 'clips' / 'cam.mp4'
    clip.parent.mkdir()
    subprocess.run([codec_exe(), '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=4',
                    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', str(clip)], check=True)
    n = write_train_lq([str(clip.parent)], tmp_path / 'lq', 10, 0.2)
    files = sorted((tmp_path / 'lq').glob('*.png'))
    assert n == len(files) == 8 and files[-1].name == 'cam_00007.png'
    assert json.loads((tmp_path / 'lq' / 'done.json').read_text()) == {'frames': 8}
    assert R.consistency_options(t, {'blur_sigma': [0.4, 0.8]}, tmp_path / 'lq')  # and the trainer can read it
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', yaml.safe_load(t.read_text())['network_g'],
                                'realesr-animevideov3', 'compact', 'cpu', _paths(tmp_path), 30, NONE, over)
    assert opt['datasets']['real_lq']['batch_size'] == 2 and opt['train']['consistency_opt']['sigma'] == 0.6


def test_missing_vgg_and_netd_are_said_and_dropped(tmp_path):
    t = R.OPTIONS / 'finetune_domain_x4plus_gpu.yml'
    arch = yaml.safe_load(t.read_text())['network_g']
    opt, notes, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesrgan-x4plus', 'x4plus', 'gpu',
                                    _paths(tmp_path), None, NONE, [])
    assert opt['train']['perceptual_opt']['perceptual_weight'] == 0.0 and opt['path']['pretrain_network_d'] is None
    assert len(notes) == 2 and 'VGG19' in notes[0] and 'RealESRGAN_x4plus_netD' in notes[1]
    assert opt['train']['total_iter'] == yaml.safe_load(t.read_text())['train']['total_iter']


def test_bad_override_is_one_line(tmp_path):
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    arch = yaml.safe_load(t.read_text())['network_g']
    with pytest.raises(R.RecipeError) as e:
        R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                        _paths(tmp_path), 10, NONE, ['train.optim_g.lrr=1'])
    assert 'train.optim_g.lrr: unknown key' in str(e.value) and '\n' not in str(e.value)


def test_seconds_per_iter_from_the_trainer_log(tmp_path):
    log = tmp_path / 'train.log'
    lines = []
    for it, t in ((1, '10:00:00,000'), (2, '10:00:05,000'), (3, '10:00:07,000'), (4, '10:00:09,500'),
                  (6, '10:00:14,000')):
        lines.append(f'2026-11-22 {t} INFO train.x.r0: [epoch   0 iter {it:7d}/6] lr:(1.000e-04) 0.5 it/s eta 0:00:01 '
                     'l_g_pix: 1.0e-01')
    log.write_text('\n'.join(lines + ['2026-11-22 10:00:15,000 INFO train.x.r0: done']) + '\n')
    assert seconds_per_iter(log) == pytest.approx(9.0 / 4)


@pytest.mark.parametrize('kind,device', [('compact', 'cpu'), ('compact', 'gpu'), ('x4plus', 'cpu'), ('x4plus', 'gpu')])
def test_every_template_validates_with_and_without_the_official_weights(kind, device, tmp_path):
    t = R.OPTIONS / f'finetune_domain_{kind}_{device}.yml'
    arch = yaml.safe_load(t.read_text())['network_g']
    label = 'realesr-animevideov3' if kind == 'compact' else 'realesrgan-x4plus'
    for assets in (NONE, BOTH):
        opt, notes, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, label, kind, device, _paths(tmp_path), 40,
                                        assets, [])
        assert opt['network_g']['type'] == ('SRVGGNetCompact' if kind == 'compact' else 'RRDBNet')
        assert opt['logger']['save_checkpoint_freq'] == 10 and opt['train']['total_iter'] == 40
        if assets is BOTH:
            assert notes == []


def test_consistency_frames_leave_out_what_the_split_held_out(tmp_path):
    import json
    from types import SimpleNamespace

    from pipeline.stages_model import _held_out_fraction
    ctx = SimpleNamespace(s=SimpleNamespace(holdout=0.2), out=lambda stage: tmp_path / stage)
    assert _held_out_fraction(ctx) == 0.2  # no split yet
    (tmp_path / 'split').mkdir()
    (tmp_path / 'split' / 'split.json').write_text(json.dumps([{'file': 'a.png', 'set': 'train'}]))
    assert _held_out_fraction(ctx) == 0.2
    (tmp_path / 'split' / 'split.json').write_text(json.dumps([{'file': 'a.png', 'holdout': 0.35}]))
    assert _held_out_fraction(ctx) == 0.35  # the split held out more to keep 12 frames
