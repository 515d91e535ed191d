"""Recipe choice and options of the domain pipeline (pipeline/train/recipes.py), and the
warm-up timing that turns --budget into iterations."""
import json
import re
from pathlib import Path

import cv2
import pytest
import yaml

from realesrgan_paddle.pipeline.train import recipes as R
from realesrgan_paddle.pipeline.context import DomainError
from realesrgan_paddle.pipeline.stages.finetune import seconds_per_iter
from tests.nets import save_tiny
from realesrgan_paddle.training.metrics_log import FILE_NAME, MetricsLog

NONE = {'vgg19': None, 'netd': None}
BOTH = {'vgg19': '/cache/vgg19.pdparams', 'netd': '/cache/netd.pdparams'}


def _applied(opt, overrides):
    """The ``-o key.path=value`` overrides that ``opt`` does not hold (the empty list when all landed)."""
    missed = []
    for o in overrides:
        key, value = o.split('=', 1)
        node = opt
        for k in key.split('.'):  # in train.losses a key part names an entry
            node = node.get(k) if isinstance(node, dict) else R.loss_entry({'losses': node}, k) or None \
                if isinstance(node, list) else None
        value = yaml.safe_load(value)
        if isinstance(value, dict) and isinstance(node, dict):  # an entry added by name carries its name
            value = {**value, 'name': node.get('name')}
        if node != value:
            missed.append(o)
    return missed


def _checkpoints(opt):
    """How many checkpoints the run saves."""
    return opt['train']['total_iter'] // opt['logger']['save_checkpoint_freq']


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
            offline = {'compact': 'compact_cpu', 'x4plus': 'x4plus_lowband_cpu'}[kind] if dev == 'cpu' else None
            assert t.is_file() and t.name == f'finetune_domain_{offline or kind + "_" + dev}.yml'
            # offline: the CPU recipes say they stand in for the official one; the GPU ones say what they drop
            assert (note is not None) == (dev == 'cpu')
    x4, note = R.pick_template('x4plus', 'cpu', NONE)
    assert 'VGG19' in note and 'RealESRGAN_x4plus_netD' in note  # what is missing, by name
    raw = yaml.safe_load(x4.read_text())
    assert raw['network_g']['type'] == 'LowBandRRDBNet' and 'network_d' not in raw
    assert not R.loss_entry(raw['train'], 'l_g_anchor') and not R.loss_entry(raw['train'], 'l_g_percep')
    assert R.loss_entry(raw['train'], 'l_g_pix')['weight'] == 1
    note = R.pick_template('x4plus', 'cpu', dict(BOTH, vgg19=None))[1]
    assert 'VGG19' in note and note != R.pick_template('x4plus', 'cpu', NONE)[1]  # VGG19 alone is missing
    assert R.pick_template('x4plus', 'cpu', BOTH) == (R.OPTIONS / 'finetune_domain_x4plus_cpu.yml', None)
    note = R.pick_template('compact', 'cpu', NONE)[1]
    assert 'VGG19' in note and 'RealESRGAN_x4plus_netD' in note
    note = R.pick_template('compact', 'cpu', dict(BOTH, netd=None))[1]
    assert 'RealESRGAN_x4plus_netD' in note and note != R.pick_template('compact', 'cpu', NONE)[1]
    t, note = R.pick_template('compact', 'cpu', BOTH)   # online user: the official recipe stays the default
    assert t.name == 'finetune_domain_compact_gpu.yml' and note


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
    assert opt['train']['total_iter'] == 60 and _checkpoints(opt) == 4  # the default: 4 checkpoints per run
    assert opt['train']['scheduler']['milestones'] == [round(m * 60 / raw['train']['total_iter'])
                                                       for m in raw['train']['scheduler']['milestones']]
    assert opt['datasets']['train']['dataroot_gt'] == str(tmp_path / 'train_hr')
    assert opt['path']['pretrain_network_g'] == 'realesr-animevideov3' and opt['device'] == 'cpu'
    assert opt['train']['optim_g']['lr'] == 2e-4 and opt['logger']['keep_last'] == 0


def test_fitted_degradation_brings_its_recipe_changes(tmp_path):
    """--lq-videos: the fragment's degradation and FITTED_RECIPE's loss changes for the template; the user's -o
    still win; without the fragment (no --lq-videos) nothing is added."""
    from realesrgan_paddle.pipeline.stages.finetune import fitted_overrides
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    assert fitted_overrides(tmp_path / 'absent.yml', t) == []
    frag = tmp_path / 'fitted.yml'
    frag.write_text(yaml.safe_dump({'scale': 4, 'l1_gt_usm': False, 'degradation': {
        'codec_prob': 1.0, 'codec_crf_range': [14.0, 21.0], 'second_blur_prob': 0.0}}))
    over = fitted_overrides(frag, t)
    assert 'degradation.codec_crf_range=[14.0, 21.0]' in over and 'l1_gt_usm=false' in over
    tail = R.fitted_recipe(t)
    assert tail and over[-len(tail):] == tail == list(R.FITTED_RECIPE[t.name])
    assert R.fitted_recipe(R.OPTIONS / 'finetune_domain_compact_gpu.yml') == []
    arch = yaml.safe_load(t.read_text())['network_g']
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                _paths(tmp_path), 30, NONE, over)
    assert _applied(opt, over) == [] and opt['degradation']['codec_prob'] == 1.0 and opt['l1_gt_usm'] is False
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                _paths(tmp_path), 30, NONE, over + ['train.pixel_opt.loss_weight=0.5'])
    # the user's -o after the recipe's wins, in the official spelling too (on the template's entry l_g_pix)
    assert R.loss_entry(opt['train'], 'l_g_pix')['weight'] == 0.5 and 'pixel_opt' not in opt['train']
    assert R.loss_entry(opt['train'], 'l_g_pix')['target'] == 'gt'  # the fragment's l1_gt_usm: false
    plain, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                  _paths(tmp_path), 30, NONE, [])
    assert plain['degradation'] == {} and plain['network_g'] == arch  # the template's, without --lq-videos
    assert _applied(plain, tail) != []  # the recipe changes the template
    # a user's compact weights as the base: their arch, with the recipe's skip (the weights cannot show one)
    save_tiny(tmp_path / 'x.pdparams', {k: v for k, v in arch.items() if k != 'skip'})
    own, _, _ = R.build_options(t, tmp_path / 'x.pdparams', {k: v for k, v in arch.items() if k != 'skip'},
                                str(tmp_path / 'x.pdparams'), 'compact', 'cpu', _paths(tmp_path), 30, NONE, [])
    assert own['network_g']['skip'] == 'bilinear' and own['network_g']['num_conv'] == arch['num_conv']
    own, _, _ = R.build_options(t, tmp_path / 'x.pdparams', {**arch, 'skip': 'nearest'},
                                str(tmp_path / 'x.pdparams'), 'compact', 'cpu', _paths(tmp_path), 30, NONE, [])
    assert own['network_g']['skip'] == 'nearest'  # a base that says its skip keeps it
    # ... with --lq-videos too: a bilinear base (tools/refit_skip.py's file) is not moved to the recipe's nearest
    bil = {**arch, 'skip': 'bilinear'}
    assert 'network_g.skip=nearest' not in fitted_overrides(frag, t, bil)
    assert fitted_overrides(frag, t, bil) == [o for o in over if o != 'network_g.skip=nearest']
    own, _, _ = R.build_options(t, tmp_path / 'x.pdparams', bil, str(tmp_path / 'x.pdparams'), 'compact', 'cpu',
                                _paths(tmp_path), 30, NONE, fitted_overrides(frag, t, bil))
    assert own['network_g']['skip'] == 'bilinear'
    assert _applied(own, [o for o in tail if not o.startswith('network_g.')]) == []


def test_generic_photos_beside_the_frames_only_with_a_fitted_degradation(tmp_path, monkeypatch):
    """FITTED_GENERIC: with --lq-videos and a fitted fragment the training roots are the split's frames and the
    generic photos (six real photos in the repo); --no-generic, no --lq-videos, no fragment or another template:
    the frames alone. A missing folder is one clear error."""
    from types import SimpleNamespace

    from realesrgan_paddle.pipeline.context import DomainError
    from realesrgan_paddle.pipeline.stages.finetune import generic_overrides
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    folder = R.FITTED_GENERIC[t.name]
    photos = sorted(folder.glob('*.png'))
    assert len(photos) == 6 and all(cv2.imread(str(p)).shape[2] == 3 for p in photos)
    (tmp_path / 'degrade').mkdir()
    (tmp_path / 'split' / 'train_hr').mkdir(parents=True)
    (tmp_path / 'degrade' / 'fitted.yml').write_text('scale: 4\n')

    def ctx(lq=('lq',), generic=True):
        return SimpleNamespace(s=SimpleNamespace(lq_videos=list(lq), generic=generic), out=lambda st: tmp_path / st)
    over = generic_overrides(ctx(), t)
    assert over == [f'datasets.train.dataroot_gt=["{tmp_path / "split" / "train_hr"}", "{folder}"]']
    arch = yaml.safe_load(t.read_text())['network_g']
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                _paths(tmp_path), 30, NONE, over)
    assert opt['datasets']['train']['dataroot_gt'] == [str(tmp_path / 'split' / 'train_hr'), str(folder)]
    assert generic_overrides(ctx(generic=False), t) == [] and generic_overrides(ctx(lq=()), t) == []
    assert generic_overrides(ctx(), R.OPTIONS / 'finetune_domain_compact_gpu.yml') == []
    monkeypatch.setitem(R.FITTED_GENERIC, t.name, tmp_path / 'gone')
    with pytest.raises(DomainError, match='gone: the generic photos are missing'):
        generic_overrides(ctx(), t)
    (tmp_path / 'degrade' / 'fitted.yml').unlink()
    assert generic_overrides(ctx(), t) == []


def test_consistency_options_and_train_lq_frames(tmp_path):
    """The consistency loss with the fitted blur's middle and the real LQ folder; the LQ frames for it leave out
    the last --holdout of each clip (which the evaluation holds out)."""
    import json
    import subprocess

    from realesrgan_paddle.data.degrade.codec import codec_exe
    from realesrgan_paddle.pipeline.stages.finetune import write_train_lq
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    over = R.consistency_options(t, {'blur_sigma': [0.4, 0.8]}, tmp_path / 'lq')
    loss, data = (json.loads(o.split('=', 1)[1]) for o in over)
    assert over[0].startswith('train.losses.l_g_cons=') and over[1].startswith('datasets.real_lq=')
    entry = R.FITTED_CONSISTENCY[t.name]
    assert loss == {'type': 'ConsistencyLoss', 'weight': entry['loss_weight'], 'scale': 4, 'sigma': 0.6}
    assert data == {'dataroot_lq': str(tmp_path / 'lq'), 'crop': entry['crop'], 'batch_size': entry['batch_size']}
    assert R.consistency_options(R.OPTIONS / 'finetune_domain_x4plus_cpu.yml', {}, tmp_path) == []
    clip = tmp_path / 'clips' / 'cam.mp4'
    clip.parent.mkdir()
    # frame N is flat grey 6 N: a frame's level tells its time (0.1 s per frame, 4 s)
    subprocess.run([codec_exe(), '-v', 'error', '-f', 'lavfi', '-i',
                    "nullsrc=s=64x48:r=10:d=4,geq=lum='6*N':cb=128:cr=128", '-c:v', 'libx264', '-crf', '10',
                    '-pix_fmt', 'yuv420p', str(clip)], check=True)
    for holdout, last in ((0.2, 32), (0.5, 20)):  # the last frame before the held-out part
        out = tmp_path / ('lq' if holdout == 0.2 else 'lq_half')
        n = write_train_lq([str(clip.parent)], out, 10, holdout)
        levels = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE).mean() for f in sorted(out.glob('*.png'))]
        assert n == len(levels) == 10 and json.loads((out / 'done.json').read_text()) == {'frames': 10}
        grey = [(6 * n - 16) * 255 / 219 for n in (last - 4, last)]  # limited-range Y 6 N read as RGB
        assert grey[0] - 3 <= max(levels) <= grey[1] + 3, (holdout, levels)  # spread up to the cut, not past it
    assert R.consistency_options(t, {'blur_sigma': [0.4, 0.8]}, tmp_path / 'lq')  # and the trainer can read it
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', yaml.safe_load(t.read_text())['network_g'],
                                'realesr-animevideov3', 'compact', 'cpu', _paths(tmp_path), 30, NONE, over)
    assert opt['datasets']['real_lq'] == data and R.loss_entry(opt['train'], 'l_g_cons')['sigma'] == 0.6


def test_missing_vgg_and_netd_are_said_and_dropped(tmp_path):
    t = R.OPTIONS / 'finetune_domain_x4plus_gpu.yml'
    arch = yaml.safe_load(t.read_text())['network_g']
    opt, notes, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesrgan-x4plus', 'x4plus', 'gpu',
                                    _paths(tmp_path), None, NONE, [])
    assert R.loss_entry(opt['train'], 'l_g_percep')['perceptual_weight'] == 0.0
    assert opt['path']['pretrain_network_d'] is None
    assert len(notes) == 2 and 'VGG19' in notes[0] and 'RealESRGAN_x4plus_netD' in notes[1]
    assert opt['train']['total_iter'] == yaml.safe_load(t.read_text())['train']['total_iter']


def test_bad_override_is_one_line(tmp_path):
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    arch = yaml.safe_load(t.read_text())['network_g']
    with pytest.raises(R.RecipeError) as e:
        R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                        _paths(tmp_path), 10, NONE, ['train.optim_g.lrr=1'])
    assert 'train.optim_g.lrr' in str(e.value) and '\n' not in str(e.value)  # one line naming the key


def test_seconds_per_iter_from_the_trainer_metrics(tmp_path):
    log = MetricsLog(tmp_path)
    for it, t in ((1, 0.0), (2, 5.0), (3, 7.0), (4, 9.5), (6, 14.0)):
        log.write('train', it, 0, lr=[1e-4], losses={'l_g_pix': 0.1}, it_per_s=0.5)
    log.write('val', 6, 0, n_images=1, metrics={'psnr': 20.0})
    log.close()
    path = tmp_path / FILE_NAME
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    for r, t in zip(recs, (0.0, 5.0, 7.0, 9.5, 14.0, 15.0)):
        r['time'] = 1.8e9 + t
    path.write_text(''.join(json.dumps(r) + '\n' for r in recs) + '{"kind": "train", "iter": 7, "ti')
    assert seconds_per_iter(path) == pytest.approx(9.0 / 4)
    path.write_text(''.join(json.dumps(r) + '\n' for r in recs[:2]))
    with pytest.raises(DomainError, match='too few iterations'):
        seconds_per_iter(path)


@pytest.mark.parametrize('kind,device', [('compact', 'cpu'), ('compact', 'gpu'), ('x4plus', 'cpu'), ('x4plus', 'gpu')])
def test_every_template_validates_with_and_without_the_official_weights(kind, device, tmp_path):
    t = R.OPTIONS / f'finetune_domain_{kind}_{device}.yml'
    arch = yaml.safe_load(t.read_text())['network_g']
    label = 'realesr-animevideov3' if kind == 'compact' else 'realesrgan-x4plus'
    for assets in (NONE, BOTH):
        opt, notes, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, label, kind, device, _paths(tmp_path), 40,
                                        assets, [])
        assert opt['network_g']['type'] == ('SRVGGNetCompact' if kind == 'compact' else 'RRDBNet')
        assert opt['train']['total_iter'] == 40 and _checkpoints(opt) == R.CHECKPOINTS.get(t.name, 4)
        if assets is BOTH:
            assert notes == []


def test_consistency_frames_leave_out_what_the_split_held_out(tmp_path):
    import json
    from types import SimpleNamespace

    from realesrgan_paddle.pipeline.stages.data import split_holdout
    ctx = SimpleNamespace(s=SimpleNamespace(holdout=0.2), out=lambda stage: tmp_path / stage)
    (tmp_path / 'split').mkdir()
    (tmp_path / 'split' / 'split.json').write_text(json.dumps([{'file': 'a.png', 'set': 'train'}]))
    assert split_holdout(ctx) == 0.2
    (tmp_path / 'split' / 'split.json').write_text(json.dumps([{'file': 'a.png', 'holdout': 0.35}]))
    assert split_holdout(ctx) == 0.35  # the split held out more to keep 12 frames


def test_fitted_texture_is_the_teachers_band_at_the_measured_weights(tmp_path):
    """With --lq-videos the compact CPU recipe keeps the template's teacher and its anchor loss, with the weights
    of ``FITTED_RECIPE`` (docs/experiments/degradation_fit_runs.md), and no HF-energy term towards the GT; without
    --lq-videos the template's own weights stay."""
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    raw = yaml.safe_load(t.read_text())
    arch = raw['network_g']
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                _paths(tmp_path), 30, NONE, R.fitted_recipe(t))
    tr = opt['train']
    assert tr['teacher'] == raw['train']['teacher'] and not R.loss_entry(tr, 'l_g_hf')
    assert R.loss_entry(tr, 'l_g_anchor')['type'] == R.loss_entry(raw['train'], 'l_g_anchor')['type']
    assert _applied(opt, R.fitted_recipe(t)) == []
    plain, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesr-animevideov3', 'compact', 'cpu',
                                  _paths(tmp_path), 30, NONE, [])
    assert plain['train']['losses'] == raw['train']['losses'] and not R.loss_entry(plain['train'], 'l_g_fft')


def test_lowband_template_keeps_a_file_bases_trunk_and_adds_its_corrector(tmp_path):
    """finetune_domain_x4plus_lowband_cpu.yml with an RRDBNet weights file as the base: network_g is that
    trunk (the file's arch) as a LowBandRRDBNet with the template's corrector; the zoo x4plus keeps the
    template's; both validate (corrector keys, trunk_reuse, the non-strict load of the base)."""
    t = R.OPTIONS / 'finetune_domain_x4plus_lowband_cpu.yml'
    raw = yaml.safe_load(t.read_text())
    corr = {k: v for k, v in raw['network_g'].items() if k.startswith('corr_')}
    assert corr and raw['path']['strict_load_g'] is False
    small = {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'num_feat': 8, 'num_block': 2,
             'num_grow_ch': 4}
    from tests.nets import save_tiny
    save_tiny(tmp_path / 'mine.pdparams', small)
    opt, _, _ = R.build_options(t, tmp_path / 'mine.pdparams', small, str(tmp_path / 'mine.pdparams'), 'x4plus',
                                'cpu', _paths(tmp_path), 40, NONE, ['train.trunk_reuse=2'])
    assert opt['network_g'] == {**small, **corr, 'type': 'LowBandRRDBNet'} and opt['train']['trunk_reuse'] == 2
    opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', raw['network_g'], 'realesrgan-x4plus', 'x4plus', 'cpu',
                                _paths(tmp_path), 40, NONE, [])
    assert opt['network_g'] == raw['network_g'] and _checkpoints(opt) == R.CHECKPOINTS[t.name]


def test_own_templates_and_recipes_write_train_losses_only(tmp_path):
    """No *_opt section in the project's templates (the official files' names included: their loss sections are
    entries; the official spelling stays readable, training/loss_terms.py), no *_opt in their text or in the
    recipes' code, and none in what the recipes add (--stable, the fitted recipe, its partner, the consistency loss,
    the fitted flags)."""
    from realesrgan_paddle.pipeline.stages.finetune import fitted_overrides
    own = sorted(R.OPTIONS.glob('*.yml'))
    assert len(own) == 13
    for p in own:
        train = yaml.safe_load(p.read_text())['train']
        assert isinstance(train['losses'], list) and not [k for k in train if k.endswith('_opt')], p.name
    texts = [*own, Path(R.__file__), Path(R.__file__).with_name('partner.py')]
    hits = [f'{p.name}:{i + 1}' for p in texts for i, line in enumerate(p.read_text().splitlines())
            if re.search(r'[a-z]_opt\b', line)]
    assert not hits, hits
    frag = tmp_path / 'fitted.yml'
    frag.write_text(yaml.safe_dump({'l1_gt_usm': False, 'percep_gt_usm': False, 'degradation': {}}))
    t = R.OPTIONS / 'finetune_domain_compact_cpu.yml'
    written = [*R.stable_overrides(), *(o for v in R.FITTED_RECIPE.values() for o in v),
               *(o for v in R.FITTED_PARTNER.values() for o in v['overrides']),
               *R.consistency_options(t, {'blur_sigma': [0.4, 0.8]}, tmp_path), *fitted_overrides(frag, t)]
    keys = [o.split('=', 1)[0] for o in written]
    assert keys and not [k for k in keys if re.search(r'_opt\b', k)], keys
    assert 'train.losses.l_g_pix.target' in keys  # the template's pixel term follows the fragment's flag


def test_stable_terms_come_first_and_the_users_own_win(tmp_path):
    """--stable prepends two train.losses entries; the user's -o after them wins, on the entries' names or in the
    official spelling the docs show (train.stability_opt.loss_weight=..., train.temporal_opt=~)."""
    t = R.OPTIONS / 'finetune_domain_x4plus_lowband_cpu.yml'
    arch = yaml.safe_load(t.read_text())['network_g']

    def terms(*user):
        opt, _, _ = R.build_options(t, tmp_path / 'x.pdparams', arch, 'realesrgan-x4plus', 'x4plus', 'cpu',
                                    _paths(tmp_path), 30, NONE, R.stable_overrides() + list(user)
                                    + [f'datasets.real_lq_pairs={{"dataroot_lq": "{tmp_path}"}}'])
        assert not [k for k in opt['train'] if k.endswith('_opt')]
        return {e['name']: e for e in opt['train']['losses']}
    plain = terms()
    assert plain['l_g_stab'] == {'type': 'StabilityLoss', 'weight': 10.0, 'name': 'l_g_stab'}
    assert plain['l_g_temp']['weight'] == 10.0 and list(plain)[:2] == ['l_g_pix', 'l_g_lowpass']
    mine = terms('train.stability_opt.loss_weight=5', 'train.losses.l_g_temp.weight=2')
    assert mine['l_g_stab']['weight'] == 5 and mine['l_g_temp']['weight'] == 2
    mine = terms('train.temporal_opt={"type": "TemporalLoss", "loss_weight": 3, "reduction": "sum"}',
                 'train.stability_opt=~')
    assert mine['l_g_temp'] == {'type': 'TemporalLoss', 'weight': 3, 'reduction': 'sum', 'name': 'l_g_temp'}
    assert 'l_g_stab' not in mine
