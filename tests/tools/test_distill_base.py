"""tools/distill_base.py end to end on real photos with tiny networks: degraded copies, the teacher's outputs,
a resumable training and a weights file the pipeline takes as --base; bad input is one line, exit 2."""
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))
import distill_base as tool  # noqa: E402
from tests.cli_checks import a_line


@pytest.fixture(scope='module')
def small_photos(tmp_path_factory, hr_photos):
    out = tmp_path_factory.mktemp('photos')
    for p in hr_photos[:3]:
        cv2.imwrite(str(out / p.name), cv2.imread(str(p))[:192, :224])
    return out


def _nets(tmp_path):
    from tests.nets import save_tiny, srvgg
    return (save_tiny(tmp_path / 'teacher.pdparams', srvgg(num_feat=8)),
            save_tiny(tmp_path / 'init.pdparams', srvgg(num_feat=4)))


def _argv(photos, work, out, teacher, init, iters=6):
    return ['-i', str(photos), '--work', str(work), '-o', str(out), '--teacher', str(teacher), '--init', str(init),
            '--iters', str(iters), '--every', '3', '--crop', '16', '--batch', '2', '-q']


def test_end_to_end_and_resume(tmp_path, small_photos, capsys):
    from realesrgan_paddle.inference import Upscaler
    from realesrgan_paddle.models.loading import read_checkpoint
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file
    teacher, init = _nets(tmp_path)
    work, out = tmp_path / 'w', tmp_path / 'out' / 'distilled.pdparams'
    assert tool.main(_argv(small_photos, work, out, teacher, init)) == 0
    for seed in (0, 1):
        assert len(list((work / f'lq_{seed}').glob('*.png'))) == 3
        assert len(list((work / f'teacher_{seed}').glob('*.png'))) == 3
    state, arch = read_checkpoint(out)
    assert arch['skip'] == 'bilinear' and arch['num_feat'] == 4
    meta = load_state_file(out)['meta']
    assert meta['distil']['iters'] == 6 and meta['distil']['pairs'] == 6 and 'distilled into' in meta['source']
    lq = cv2.resize(cv2.imread(str(next(small_photos.iterdir()))), (40, 32), interpolation=cv2.INTER_AREA)
    assert Upscaler(str(out), device='cpu', backend='dynamic').upscale(lq).shape == (128, 160, 3)
    log = (work / 'distill.log').read_text()
    assert a_line(log, 'seed 0', '3 written') and 'iteration 6/6' in log
    # a longer run in the same --work reuses the copies and the teacher's outputs and goes on from iteration 6
    more = tmp_path / 'more.pdparams'
    assert tool.main(_argv(small_photos, work, more, teacher, init, iters=9)) == 0
    text = capsys.readouterr().out
    assert a_line(text, 'seed 1', '0 written') and '(iteration 6)' in text and 'iteration 9/9' in text
    # the same number again writes the finished weights; a smaller one is refused (its states are further on)
    again = tmp_path / 'again.pdparams'
    assert tool.main(_argv(small_photos, work, again, teacher, init, iters=9)) == 0
    a_line(capsys.readouterr().out, str(again), '9 iterations')
    assert read_checkpoint(again)[0].keys() == read_checkpoint(more)[0].keys()
    assert all((read_checkpoint(again)[0][k] == read_checkpoint(more)[0][k]).all() for k in state)
    assert tool.main(_argv(small_photos, work, tmp_path / 'less.pdparams', teacher, init, iters=4)) == 2
    assert not (tmp_path / 'less.pdparams').exists()
    a_line(capsys.readouterr().err, '9 iterations', '4')


@pytest.mark.parametrize('case, message', [
    ('exists', '{out}: already exists; give another --output (nothing is overwritten)'),
    ('suffix', '{d}/x.onnx: --output must be a .pdparams file'),
    ('missing', '{d}/none: --input folder not found'),
    ('iters', '--iters must be >= 1, got 0'),
    ('energy', '--lr must be > 0, --energy and --grid >= 0, got 0.0002, -1.0, 20.0'),
    ('teacher', 'train.teacher: '),
    ('init', 'a RRDBNet, not an SRVGGNetCompact'),
    ('work_file', '--work cannot write {d}/a_file/w: a part of the path is a file, not a folder'),
    ('work_link', '--work cannot write {d}/w: {d}/w is a broken symbolic link (to gone, which does not exist)'),
    ('out_file', '--output cannot write {d}/a_file: a part of the path is a file, not a folder'),
])
def test_refusals_are_one_line(tmp_path, small_photos, capsys, case, message):
    teacher, init = _nets(tmp_path)
    out = tmp_path / 'o.pdparams'
    argv = _argv(small_photos, tmp_path / 'w', out, teacher, init)
    if case == 'exists':
        out.write_bytes(b'mine')
    elif case == 'suffix':
        argv[argv.index('-o') + 1] = str(tmp_path / 'x.onnx')
    elif case == 'missing':
        argv[1] = str(tmp_path / 'none')
    elif case == 'iters':
        argv[argv.index('--iters') + 1] = '0'
    elif case == 'energy':
        argv += ['--energy', '-1']
    elif case == 'work_file':
        (tmp_path / 'a_file').write_text('x')
        argv[argv.index('--work') + 1] = str(tmp_path / 'a_file' / 'w')
    elif case == 'out_file':  # found before the training, not after it
        (tmp_path / 'a_file').write_text('x')
        argv[argv.index('-o') + 1] = str(tmp_path / 'a_file' / 'o.pdparams')
    elif case == 'work_link':  # a work folder copied with its relative links
        (tmp_path / 'w').symlink_to('gone')
    elif case == 'teacher':
        argv[argv.index('--teacher') + 1] = str(tmp_path / 'nowhere.pdparams')
    else:
        from tests.nets import rrdb, save_tiny
        argv[argv.index('--init') + 1] = str(save_tiny(tmp_path / 'rrdb.pdparams', rrdb()))
    assert tool.main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')]
    assert len(err) == 1 and message.format(out=out, d=tmp_path) in err[0]
    assert case != 'exists' or out.read_bytes() == b'mine'
    assert not (tmp_path / 'w' / 'lq_0').exists()  # refused before the first stage


def test_an_unreadable_image_is_left_out(tmp_path, small_photos, capsys):
    import shutil
    photos = tmp_path / 'photos'
    shutil.copytree(small_photos, photos)
    (photos / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n not an image')
    teacher, init = _nets(tmp_path)
    out = tmp_path / 'o.pdparams'
    assert tool.main(_argv(photos, tmp_path / 'w', out, teacher, init, iters=2)) == 0 and out.is_file()
    captured = capsys.readouterr()
    assert 'broken.png' in captured.err and 'seed 0: some images of' in captured.out
    assert '6 pairs of at least 16 px' in captured.out
