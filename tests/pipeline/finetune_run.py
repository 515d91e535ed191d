"""Shared by the one-command tests (tools/finetune_domain.py): ffmpeg for making clips, a real 4 s clip, the
command line with the tiny recipe's overrides, and its stderr lines."""
import signal
import subprocess
import sys

from tests.user_path import ROOT

TOOL = ROOT / 'tools' / 'finetune_domain.py'
TINY = ['-o', 'gt_size=32', '-o', 'datasets.train.crop_pad_size=64',
        '-o', 'queue_size=4', '--gap', '0.5']


def ffmpeg(*args, timeout=120):
    from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
    subprocess.run([ffmpeg_exe(), '-hide_banner', '-nostdin', '-loglevel', 'error', '-y', *map(str, args)],
                   check=True, timeout=timeout)


def make_clip(shared_data, hr_photos, out, secs=4.0):
    """``secs`` of cup.mp4 at 264x200 when ../shared is there, else a pan across a real photo (the default
    ``--min-size`` is 200: the smallest frames the one command takes as they come)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cup = shared_data / 'video' / 'cup.mp4' if shared_data is not None else None
    if cup is not None and cup.is_file():
        ffmpeg('-ss', 2, '-t', secs, '-i', cup, '-vf', 'scale=264:200', '-an', '-c:v', 'libx264', '-g', 10, out)
    else:
        ffmpeg('-loop', 1, '-t', secs, '-i', hr_photos[0], '-vf',
               "scale=792:600,crop=264:200:x='t*99':y='t*66',fps=10,format=yuv420p", '-c:v', 'mpeg4', '-q:v', 2, out)
    return out


def cmd(videos, work, *extra, force=True):
    """The one command; ``force``: --force-export, since a tiny base trained for 8 iterations loses to bicubic
    on both axes and is exported only when forced. Without a --compare of its own, --compare none: the default
    x4plus comparison (23 RRDB blocks on every held-out frame) is tested once, in test_compare_default.py."""
    extra = [str(e) for e in extra]
    return [sys.executable, str(TOOL), '--videos', str(videos), '--work', str(work), *extra,
            *([] if '--compare' in extra else ['--compare', 'none']), *(['--force-export'] if force else [])]


def run(*args, timeout=300, force=True):
    return subprocess.run(cmd(*args, force=force), cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def run_here(capsys, *args, force=True):
    """The one command in this process (``main(argv)``: no interpreter start and paddle already loaded, where each
    process pays its import): ``(exit status, the non-blank stderr lines)``. For refusals; the tests keep a
    subprocess case on each path to check that a fresh process prints nothing but its line."""
    from realesrgan_paddle.utils.runtime_env import import_paddle_quietly
    from tools.finetune_domain import main
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        import_paddle_quietly()  # loaded: main's CPU set-up never restarts this process (runtime_env.setup's reexec)
        code = main(cmd(*args, force=force)[2:])
    finally:  # the tool's SIGTERM/SIGHUP handlers are for its own process
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def errors(res):
    """The non-blank lines of ``res``'s stderr."""
    return [ln for ln in res.stderr.splitlines() if ln.strip()]
