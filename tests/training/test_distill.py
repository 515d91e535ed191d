"""training/distill.py: the distillation loss (kornia habit), the cached pairs, the teacher pass and the
resumable training loop."""
import numpy as np
import paddle
import pytest

from realesrgan_paddle.training.checkpoints import CheckpointManager
from realesrgan_paddle.training.distill import DistillLoss, PairSet, build_student, distill_loss, teacher_outputs, train


def _img(seed, shape=(1, 3, 32, 32)):
    return paddle.to_tensor(np.random.default_rng(seed).random(shape).astype('float32'))


def test_value_on_known_cases():
    t = _img(0)
    assert float(distill_loss(t, t)) == 0.0
    # a constant offset: the L1 is the offset, the band-strength term (a Laplacian) does not see it
    assert float(distill_loss(t + 0.1, t, energy_weight=15)) == pytest.approx(0.1, abs=1e-5)
    # a flat output against a textured target: the band term adds the target's band strength
    flat = paddle.full_like(t, float(t.mean()))
    assert float(distill_loss(flat, t, 15, 0)) > float(distill_loss(flat, t, 0, 0)) + 1.0
    # an error that repeats every 4 px (a mesh on the x4 grid) costs the grid term; the same error shuffled does not
    mesh = paddle.to_tensor(np.tile(np.random.default_rng(3).normal(0, 0.05, (4, 4)), (8, 8)).astype('float32'))
    shuffled = paddle.to_tensor(np.random.default_rng(4).permutation(mesh.numpy().ravel()).reshape(32, 32))
    g_mesh = float(distill_loss(t + mesh, t, 0, 1)) - float(distill_loss(t + mesh, t, 0, 0))
    g_shuf = float(distill_loss(t + shuffled, t, 0, 1)) - float(distill_loss(t + shuffled, t, 0, 0))
    assert g_mesh > 0.02 and g_shuf < 0.5 * g_mesh


def test_gradient_and_layer_match():
    out, t = _img(1), _img(2)
    out.stop_gradient = False
    loss = distill_loss(out, t, 5.0, 3.0, 4)
    loss.backward()
    assert out.grad is not None and float(paddle.abs(out.grad).sum()) > 0
    assert float(DistillLoss(5.0, 3.0, 4)(out, t)) == pytest.approx(float(loss), rel=1e-6)


@pytest.mark.parametrize('a, b, kw, message', [
    ((1, 3, 8, 8), (1, 3, 8, 9), {}, 'distill_loss'),
    ((1, 3, 8, 8), (1, 3, 8, 8), {'energy_weight': -1}, 'energy_weight and grid_weight must be >= 0'),
    ((1, 3, 8, 8), (1, 3, 8, 8), {'grid_weight': -1}, 'energy_weight and grid_weight must be >= 0'),
    ((1, 3, 8, 10), (1, 3, 8, 10), {}, 'multiples of period 4'),
    ((1, 3, 8, 8), (1, 3, 8, 8), {'window': 0}, 'window >= 1'),
])
def test_bad_input(a, b, kw, message):
    with pytest.raises(ValueError, match=message):
        distill_loss(_img(0, a), _img(1, b), **kw)


def _pair_folders(root, photos, n=2):
    """LQ crops of real photos and a 'teacher' that is their x4 nearest copy (so any crop's alignment shows)."""
    import cv2
    lq_dir, t_dir = root / 'lq', root / 't'
    lq_dir.mkdir()
    t_dir.mkdir()
    for p in photos[:n]:
        lq = cv2.resize(cv2.imread(str(p)), None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)[:40, :48]
        cv2.imwrite(str(lq_dir / p.name), lq)
        cv2.imwrite(str(t_dir / p.name), np.repeat(np.repeat(lq, 4, 0), 4, 1))
    return lq_dir, t_dir


def test_pairs_are_aligned_crops(tmp_path, hr_photos):
    pairs = PairSet([_pair_folders(tmp_path, hr_photos)], scale=4, crop=16)
    x, y = pairs.sample(np.random.default_rng(0), 6)
    assert x.shape == (6, 3, 16, 16) and y.shape == (6, 3, 64, 64) and x.dtype == np.float32
    assert np.array_equal(np.repeat(np.repeat(x, 4, 2), 4, 3), y)  # mirrored or not, each target is its crop's
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05


def test_pairs_refuse_misaligned_and_empty(tmp_path, hr_photos):
    import cv2
    lq_dir, t_dir = _pair_folders(tmp_path, hr_photos, 1)
    name = next(lq_dir.iterdir()).name
    with pytest.raises(ValueError, match='no \\(LQ, teacher\\) pairs of at least 64x64'):
        PairSet([(lq_dir, t_dir)], crop=64)
    cv2.imwrite(str(t_dir / name), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match=f'{name}: 100x100 is not 4 x its LQ 48x40'):
        PairSet([(lq_dir, t_dir)], crop=16)


def test_teacher_outputs_resume(tmp_path, hr_photos):
    from tests.nets import save_tiny, srvgg
    from realesrgan_paddle.training.teacher import FrozenTeacher
    lq_dir, _ = _pair_folders(tmp_path, hr_photos, 2)
    teacher = FrozenTeacher(str(save_tiny(tmp_path / 't.pdparams', srvgg())), 'dynamic')
    out = tmp_path / 'out'
    assert teacher_outputs(lq_dir, out, teacher, progress=False) == 2
    first = sorted(out.iterdir())[0]
    first.write_bytes(b'kept')  # a file already there is not redone
    assert teacher_outputs(lq_dir, out, teacher, progress=False) == 0 and first.read_bytes() == b'kept'
    first.unlink()
    assert teacher_outputs(lq_dir, out, teacher, progress=False) == 1
    import cv2
    assert cv2.imread(str(first)).shape == (160, 192, 3)


def _student(tmp_path):
    from tests.nets import save_tiny, srvgg
    return build_student(save_tiny(tmp_path / 's.pdparams', srvgg(num_feat=4)))


def test_student_is_compact_with_the_bilinear_skip(tmp_path, hr_photos):
    """The official compact model (nearest skip) is refitted: the student computes what it computed."""
    import cv2
    from realesrgan_paddle import models
    from realesrgan_paddle.models.loading import load_network
    from realesrgan_paddle.models.zoo import resolve
    from tests.nets import rrdb, save_tiny
    from realesrgan_paddle.evaluation.metrics import psnr
    path = str(resolve('realesr-animevideov3'))
    net, arch = build_student(path)
    assert arch['skip'] == 'bilinear' and arch['type'] == 'SRVGGNetCompact' and net.skip == 'bilinear'
    original = load_network(path)[0]
    as_is = models.build_network(dict(arch))
    as_is.set_state_dict(original.state_dict())
    lq = cv2.resize(cv2.imread(str(hr_photos[0])), (64, 48), interpolation=cv2.INTER_AREA)[:, :, ::-1] / 255.0
    x = paddle.to_tensor(lq.transpose(2, 0, 1)[None].astype('float32'))
    out = {}
    with paddle.no_grad():
        for name, n in (('student', net), ('original', original), ('as_is', as_is)):
            n.eval()
            out[name] = (np.clip(n(x).numpy()[0], 0, 1) * 255).transpose(1, 2, 0)
    assert psnr(out['student'], out['original']) > 40 > psnr(out['as_is'], out['original'])
    with pytest.raises(ValueError, match='a RRDBNet, not an SRVGGNetCompact'):
        build_student(save_tiny(tmp_path / 'r.pdparams', rrdb()))


def test_training_learns_and_resumes_as_if_uninterrupted(tmp_path, hr_photos):
    pairs = PairSet([_pair_folders(tmp_path, hr_photos)], crop=16)
    whole, _ = _student(tmp_path)
    x, y = (paddle.to_tensor(a) for a in pairs.sample(np.random.default_rng(99), 8))
    before = float(distill_loss(whole(x), y, 0))
    opts = dict(batch=4, lr=2e-3, energy_weight=1, every=10, progress=False)
    train(whole, pairs, tmp_path / 'a', 40, log=lambda s: None, **opts)
    ckpt = CheckpointManager(tmp_path / 'a')
    assert ckpt.saved_iters() == [30, 40] and list(ckpt.net_files()) == [30, 40]  # the last two kept
    whole.eval()
    assert float(distill_loss(whole(x), y, 0)) < 0.7 * before
    ckpt.state_path(40).unlink()  # as if stopped between iterations 30 and 40
    again, lines = _student(tmp_path)[0], []
    train(again, pairs, tmp_path / 'a', 40, log=lines.append, **opts)
    assert any(s.startswith('resumed from') and s.endswith('(iteration 30)') for s in lines)
    a, b = whole.state_dict(), again.state_dict()
    worst = max(float(np.abs(a[k].numpy() - b[k].numpy()).max()) for k in a)
    assert worst < 1e-5
