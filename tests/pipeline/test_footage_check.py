"""pipeline/inputs/footage_check.py: a clip too short (or LQ frames too small) to finetune on is said up front, in one line,
with what the run needs, before any stage runs; enough footage says nothing."""
from tests.pipeline.finetune_run import ffmpeg, run


def _clip(photo, out, secs, size):
    out.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg('-loop', 1, '-t', secs, '-i', photo, '-vf',
           f"scale=480:360,crop=320:240:x='t*30':y='t*20',fps=10,scale={size},format=yuv420p", '-c:v', 'libx264',
           '-preset', 'ultrafast', out)
    return out


def test_a_short_clip_and_small_lq_frames_are_said_up_front(hr_photos, tmp_path):
    from realesrgan_paddle.pipeline.inputs.footage_check import keyframes_needed, shortfall
    hr = _clip(hr_photos[0], tmp_path / 'hr' / 'phone.mp4', 4, '320:240')
    phone = _clip(hr_photos[0], tmp_path / 'phone' / 'phone.mp4', 4, '176:144')  # a phone clip, and its x4 LQ
    tiny = _clip(hr_photos[0], tmp_path / 'lq_tiny' / 'phone.mp4', 4, '44:36')
    need = keyframes_needed(0.4, 1.0)
    assert need == 12 + 4 + 3
    line = shortfall([hr], 0.4, 1.0, [tiny])
    assert line.startswith('WARNING: too little footage to finetune on: 4.0 s of video gives about 10 keyframes '
                           f'at --every 0.4, the run needs about {need} ') and '\n' not in line, line
    assert f'give at least {need * 0.4:.0f} s of video, or a smaller --every' in line
    assert 'the --lq-videos frames are 44x36, under the 48 px' in line and line.endswith('export the base')
    phone_line = shortfall([hr], 0.4, 1.0, [phone])  # 176x144: small, but not under the 48 px
    assert phone_line.startswith('WARNING: too little footage') and '48 px' not in phone_line, phone_line
    assert shortfall([hr], 0.4, 1.0, [hr]).count(';') == 0  # LQ frames of 320x240 can be measured: one problem
    assert shortfall([hr], 0.1, 1.0, [hr]) is None  # 40 keyframes at --every 0.1, 26 needed: enough
    # the one command says it before its first stage, then goes on
    res = run(tmp_path / 'phone', tmp_path / 'w', '--lq-videos', tmp_path / 'lq_tiny', '--stop-after', 'keyframes',
              '--min-size', 144, force=False)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    warn = [i for i, ln in enumerate(lines) if ln.startswith('WARNING: too little footage')]
    first_stage = next(i for i, ln in enumerate(lines) if ln.startswith('[keyframes]'))
    assert res.returncode == 0 and len(warn) == 1 and warn[0] < first_stage, res.stderr[-2000:]
    assert 'about 10 keyframes' in lines[warn[0]] and '44x36' in lines[warn[0]]
