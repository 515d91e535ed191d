"""Real (LQ, HR) training pairs when the --lq-videos clip is the HR clip made smaller (pipeline/inputs/real_pairs.py):
a tiny clip pair made here with ffmpeg, paired and not paired; the held-out span and the gap never used; a
clip whose frames do not match gives one line and no pair."""
import json
import subprocess

import cv2
import numpy as np
import pytest

from realesrgan_paddle.pipeline.inputs.real_lq import frames_shown_at
from realesrgan_paddle.pipeline.inputs.real_pairs import write_train_pairs
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe

CUT = 4.0  # held out from t >= 4.0 s; the gap is 3.2 <= t < 4.0


def ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error', '-y', *map(str, args)],
                   check=True, timeout=120)


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    """A 5 s static camera at 5 fps (a real photo, a pattern crossing it), 128x96, its x4 area shrink as a
    stream (x264), and a clip of the same name and size that is another recording (the photo mirrored)."""
    from skimage import data as skdata
    root = tmp_path_factory.mktemp('clips')
    photo = root / 'coffee.png'
    cv2.imwrite(str(photo), cv2.cvtColor(skdata.coffee(), cv2.COLOR_RGB2BGR))
    for d in ('hr', 'lq', 'other'):
        (root / d).mkdir()
    graph = ("[0]scale=128:96,fps=5[bg];[bg][1]overlay=x='mod(t*29\\,176)-48':y=30,format=yuv420p")
    ffmpeg('-loop', 1, '-t', 5, '-i', photo, '-f', 'lavfi', '-i', 'testsrc=size=48x36:rate=5',
           '-filter_complex', graph, '-t', 5, '-c:v', 'libx264', '-crf', 12, root / 'hr' / 'cam.mp4')
    ffmpeg('-i', root / 'hr' / 'cam.mp4', '-vf', 'scale=iw/4:ih/4:flags=area', '-c:v', 'libx264', '-crf', 23,
           root / 'lq' / 'cam.mp4')
    ffmpeg('-i', root / 'hr' / 'cam.mp4', '-vf', 'hflip,scale=iw/4:ih/4:flags=area', '-c:v', 'libx264',
           root / 'other' / 'cam.mp4')
    return root


def _rows(hr_dir, clip):
    """split.json rows every 0.4 s: train before the gap, dropped in it, held out from CUT; the HR frames of
    train and held-out rows written into ``hr_dir``."""
    rows = []
    for i in range(12):
        t = round(0.4 * i, 3)
        kind = 'train' if t < CUT - 0.8 else 'dropped' if t < CUT else 'heldout'
        rows.append({'file': f'cam_{t:010.3f}.png', 'video': 'cam', 'time': t, 'cut': CUT, 'set': kind,
                     'reason': 'gap' if kind == 'dropped' else None, 'holdout': 0.2})
    hr_dir.mkdir()
    for name, frame in frames_shown_at(clip, [(r['time'], r['file'][:-4]) for r in rows]):
        cv2.imwrite(str(hr_dir / f'{name}.png'), frame)
    return rows


def test_training_span_pairs_and_nothing_else(clips, tmp_path, monkeypatch):
    rows = _rows(tmp_path / 'hr', clips / 'hr' / 'cam.mp4')
    info = write_train_pairs([clips / 'lq'], rows, tmp_path / 'hr', tmp_path / 'pairs')
    train = sorted(r['file'] for r in rows if r['set'] == 'train')
    assert info['pairs'] == len(train) == 8 and 'every LQ frame of the training span' in info['why']
    assert json.loads((tmp_path / 'pairs' / 'done.json').read_text()) == info
    # only the training span: no held-out frame, no frame of the gap, at or after the cut
    for sub in ('lq', 'gt'):
        names = sorted(p.name for p in (tmp_path / 'pairs' / sub).iterdir())
        assert names == train and all(float(n[4:-4]) < CUT - 0.8 for n in names)
    lq = cv2.imread(str(tmp_path / 'pairs' / 'lq' / train[5]))
    gt = cv2.imread(str(tmp_path / 'pairs' / 'gt' / train[5]))
    assert lq.shape == (24, 32, 3) and gt.shape == (96, 128, 3)
    # the same moment: the HR frame shrunk is far closer to its own LQ frame than to another moment's
    own = np.abs(cv2.resize(gt, (32, 24), interpolation=cv2.INTER_AREA).astype(float) - lq).mean()
    later = cv2.imread(str(tmp_path / 'pairs' / 'lq' / train[7])).astype(float)
    assert own < 0.5 * np.abs(cv2.resize(gt, (32, 24), interpolation=cv2.INTER_AREA) - later).mean()
    # an entry's override reads them and passes the options check; a template without an entry gets none
    from pathlib import Path

    from realesrgan_paddle.pipeline.train import recipes
    from realesrgan_paddle.training.option_file import OptionsError, load_options
    smoke = Path(__file__).resolve().parents[2] / 'options' / 'tiny_smoke.yml'
    assert recipes.pair_options('finetune_domain_compact_cpu.yml', tmp_path / 'pairs') == []
    entry = {'weight': 0.5, 'crop': 8, 'batch_size': 2, 'losses': ['pixel_opt']}
    monkeypatch.setitem(recipes.FITTED_PAIRS, 'finetune_domain_compact_cpu.yml', entry)
    over = recipes.pair_options('finetune_domain_compact_cpu.yml', tmp_path / 'pairs')
    rp = load_options(smoke, [f'path.experiments_root={tmp_path}', *over])['datasets']['real_pairs']
    assert rp == {'dataroot_lq': str(tmp_path / 'pairs' / 'lq'), 'dataroot_gt': str(tmp_path / 'pairs' / 'gt'), **entry,
                  'losses': ['l_g_pix']}  # the official section's name becomes its train.losses entry's name
    entry['losses'].append('anchor_opt')  # the smoke recipe has no anchor: the entry does not fit it
    with pytest.raises(OptionsError, match="'anchor_opt' is not a configured loss"):
        load_options(smoke, [f'path.experiments_root={tmp_path}',
                             *recipes.pair_options('finetune_domain_compact_cpu.yml', tmp_path / 'pairs')])


def test_not_paired_gives_one_line_and_no_pair(clips, tmp_path):
    rows = _rows(tmp_path / 'hr', clips / 'hr' / 'cam.mp4')
    info = write_train_pairs([clips / 'other'], rows, tmp_path / 'hr', tmp_path / 'pairs')  # frames that do not match
    assert info['pairs'] == 0 and ': the HR frame shrunk x4 is ' in info['why'] and '\n' not in info['why']
    assert info['why'].startswith('cam_') and not (tmp_path / 'pairs' / 'lq').exists()
    assert not (tmp_path / 'pairs' / 'gt').exists()
    folder = tmp_path / 'frames'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), np.zeros((24, 32, 3), np.uint8))
    info = write_train_pairs([folder], rows, tmp_path / 'hr', tmp_path / 'pairs')
    assert info == {'pairs': 0, 'why': f'{folder}: image files, not a clip with times to match the HR frames'}
    renamed = tmp_path / 'renamed'
    renamed.mkdir()
    (renamed / 'street.mp4').write_bytes((clips / 'lq' / 'cam.mp4').read_bytes())
    info = write_train_pairs([renamed], rows, tmp_path / 'hr', tmp_path / 'pairs')
    assert info['pairs'] == 0 and info['why'] == f'{renamed / "street.mp4"}: no HR clip of the same name with ' \
                                                 f'training frames'
