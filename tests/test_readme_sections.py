"""README sections 2 to 5, run as written (commands read from the README's code blocks) on a small
clip made from real photos: footage -> dataset -> finetune (made tiny with -o) -> export -> upscale.
Each section reads what the one before wrote, so the README's steps chain."""
import re
import subprocess

import cv2
import numpy as np
import pytest

from tests.user_path import ROOT, run, workspace

TINY = ['network_g.num_feat=4', 'network_g.num_grow_ch=4', 'network_g.num_block=1', 'network_d.num_feat=4',
        'path.pretrain_network_g=~', 'path.pretrain_network_d=~', 'train.perceptual_opt=~', 'train.total_iter=2',
        'gt_size=64', 'queue_size=2', 'datasets.train.batch_size_per_gpu=2', 'datasets.train.num_worker_per_gpu=0',
        'datasets.train.crop_pad_size=128', 'logger.save_checkpoint_freq=2', 'train.use_amp=false']


def section_commands(readme, heading, script=None):
    """The command lines of the first code block under the heading starting with ``heading``
    (the first one that runs ``script``, when given)."""
    part = readme.split('\n## ' + heading, 1)[1].split('\n## ', 1)[0]
    blocks = re.findall(r'```bash\n(.*?)```', part, re.S)
    block = next(b for b in blocks if script is None or script in b)
    return [ln for ln in block.replace('\\\n', ' ').splitlines() if ln.strip()]


def _clip(path, photos, frames_per_photo, size=(960, 540)):
    """An H.264 clip with one keyframe per photo (a slow pan over each), made with the project's ffmpeg."""
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    w, h = size
    frames = []
    for p in photos:
        img = cv2.resize(cv2.imread(str(p)), (w + 16, h + 16), interpolation=cv2.INTER_AREA)
        frames += [img[2 * i:2 * i + h, 2 * i:2 * i + w] for i in range(frames_per_photo)]
    cmd = [ffmpeg_exe(), '-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', f'{w}x{h}', '-r', '4',
           '-i', '-', '-c:v', 'libx264', '-g', str(frames_per_photo), '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
           '-crf', '12', str(path)]
    subprocess.run(cmd, input=np.stack(frames).tobytes(), check=True, timeout=120)


@pytest.mark.slow(seconds=21)
def test_readme_sections_2_to_5_chain(tmp_path, hr_photos):
    readme = (ROOT / 'README.md').read_text()
    steps = {h: section_commands(readme, h) for h in ('2. ', '4-5. ')}
    steps['3. '] = section_commands(readme, '3. ', 'train.py --yml_path')  # the step-by-step finetune
    assert all(line.startswith('python ') for lines in steps.values() for line in lines)
    ws = workspace(tmp_path / 'project')
    photos = [p for p in hr_photos if cv2.imread(str(p)).ndim == 3]
    (ws / 'footage').mkdir()
    (ws / 'footage_heldout').mkdir()
    _clip(ws / 'footage' / 'match1.mp4', photos[:3], 4)
    _clip(ws / 'footage_heldout' / 'match2.mp4', photos[3:4], 3)

    for line in steps['2. ']:
        run(line, ws)
    assert len(list((ws / 'datasets/soccer/HR').glob('*.png'))) == 3
    assert len(list((ws / 'datasets/soccer/val/lq').glob('*.png'))) == 1

    (train,) = steps['3. ']
    log = run(train + ''.join(f' -o {o}' for o in TINY), ws).stderr
    assert re.search(r'validation iter \d+ on 1 images', log), log[-2000:]

    for line in steps['4-5. ']:
        run(line, ws)
    gt = next((ws / 'datasets/soccer/val/gt').glob('*.png'))
    lq = cv2.imread(str(ws / 'datasets/soccer/val/lq' / gt.name))
    a = cv2.imread(str(ws / 'results/soccer' / f'{gt.stem}_out.png'))
    b = cv2.imread(str(ws / 'results/soccer_dynamic' / f'{gt.stem}_out.png'))
    assert a.shape == b.shape == (lq.shape[0] * 4, lq.shape[1] * 4, 3)
    assert cv2.PSNR(a, b) > 40  # the finetuned weights, through Paddle Inference and the dynamic graph
    assert (ws / 'results/soccer_video/match2_out.mp4').stat().st_size > 0


def test_the_recipe_reads_what_readme_section_2_writes():
    """options/finetune_soccer_x4plus.yml trains and validates on the folders and the meta-info file that the
    README's section 2 commands write (the first test runs them; this one needs no run)."""
    import shlex

    import yaml
    written = set()
    for line in section_commands((ROOT / 'README.md').read_text(), '2. '):
        args = shlex.split(line.split('#')[0])
        for flag in ('--output', '--meta_info', '--root'):
            if flag in args:
                written.add(args[args.index(flag) + 1].rstrip('/'))
    data = yaml.safe_load((ROOT / 'options/finetune_soccer_x4plus.yml').read_text())['datasets']
    read = {data['train']['dataroot_gt'], data['train']['meta_info'], data['val']['dataroot_gt'],
            data['val']['dataroot_lq']}
    assert read <= written, sorted(read - written)
