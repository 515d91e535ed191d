"""Shared by the trainer tests: the tiny smoke recipe and a real-photo batch for one training step."""
from tests.user_path import ROOT

SMOKE = ROOT / 'options' / 'tiny_smoke.yml'


def _batch(photo_batch):
    """``(lq, gt, gt)``: two 64x64 real photo crops and their 4x area-averaged low-resolution copies."""
    import paddle
    gt = photo_batch(2, 64)
    lq = paddle.nn.functional.avg_pool2d(gt, 4)
    return lq, gt, gt


def tiny_losses_yaml(tmp_path, losses, **over):
    """The smoke recipe as a RealESRNetModel on the test photos with ``train.losses`` = ``losses``, 3 iterations."""
    import yaml
    raw = yaml.safe_load(SMOKE.read_text())
    raw.update(name='newloss', model_type='RealESRNetModel', network_d=None, val=None, **over)
    raw['datasets'] = {'train': {**raw['datasets']['train'],
                                 'dataroot_gt': str(ROOT / 'tests/data/images/train_hr')}}
    raw['path']['experiments_root'] = str(tmp_path / 'exp')
    raw['train'].pop('optim_d', None)
    raw['train'].update(total_iter=3, losses=losses)
    raw['logger'] = {'print_freq': 1, 'save_checkpoint_freq': 3, 'use_tb_logger': False}
    f = tmp_path / 'newloss.yml'
    f.write_text(yaml.safe_dump(raw, sort_keys=False))
    return f


def user_module(tmp_path, name, text):
    """A user's module file ``name.py`` of ``text`` written to ``tmp_path`` and imported (its decorators run)."""
    import importlib.util
    f = tmp_path / f'{name}.py'
    f.write_text(text)
    spec = importlib.util.spec_from_file_location(f'{name}_for_test', f)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
