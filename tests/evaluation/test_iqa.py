"""evaluation/iqa.py: the LPIPS/DISTS metrics of tools/evaluate.py: which are available from the weights on disk
(the zoo's converted files, or torchvision's/the authors' own files), with one note per missing one."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation import iqa
from realesrgan_paddle.models.feature_nets import iqa_nets
from realesrgan_paddle.models import zoo


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    return tmp_path


def test_available_without_weights_is_a_note(empty_cache):
    metrics, notes = iqa.available()
    assert metrics == {} and len(notes) == 3
    assert notes[0].startswith('LPIPS skipped: no alexnet and no lpips weights') and '--fetch-iqa' in notes[0]
    assert 'download_models.py --names alexnet lpips' in notes[0]
    assert notes[1].startswith('LPIPS_VGG skipped: no vgg16 and no lpips') and notes[2].startswith('DISTS skipped')


def test_a_raw_file_of_another_sha256_is_not_used(empty_cache):
    """torchvision's file name in torch's hub cache with other bytes: not the official weights, never loaded."""
    hub = empty_cache / 'torch' / 'hub' / 'checkpoints'
    hub.mkdir(parents=True)
    (hub / 'alexnet-owt-7be5be79.pth').write_bytes(b'not the file')
    assert not iqa_nets.have_weights('alexnet')
    with pytest.raises(ValueError, match='sha256 differs from the official alexnet-owt-7be5be79.pth'):
        iqa_nets.perception_state('alexnet')


def test_metric_scores_opencv_images(photo_crops, perception):
    perception('alexnet', 'lpips')
    metrics, notes = iqa.available()
    assert 'lpips' in metrics
    img = photo_crops(1, 64)[0]
    blurred = cv2.GaussianBlur(img, (0, 0), 1.5)
    m = metrics['lpips']
    assert m.score(img, img) == pytest.approx(0, abs=1e-6)
    assert 0.01 < m.score(blurred, img) < 1
    assert m.score(blurred.astype(np.float32) / 255, img) == pytest.approx(m.score(blurred, img), abs=1e-4)


def test_the_metric_weights_are_zoo_entries():
    for name in iqa.WEIGHTS:
        e = zoo.get_entry(name)
        assert e.extra['index'].sha256 and e.licence and name not in zoo.list_upscalers()
    assert set(iqa.METRICS) == {'lpips', 'lpips_vgg', 'dists'}


def test_torchvision_and_lpips_files_already_on_disk_are_used(empty_cache, monkeypatch, photo_crops):
    """A user with torchvision's AlexNet in torch's hub cache and the LPIPS heads an older version fetched into
    <cache>/iqa/ keeps them: LPIPS runs from those files (sha256-checked; here of files made by the test)."""
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    from realesrgan_paddle.utils.fileio import sha256_file
    hub, old = empty_cache / 'torch' / 'hub' / 'checkpoints', empty_cache / 'cache' / 'iqa'
    rng = np.random.default_rng(0)
    backbone = {f'features.{k}': v.numpy() for k, v in iqa_nets.backbone('alex').state_dict().items()}
    backbone['classifier.1.weight'] = np.zeros((4, 3), np.float32)  # torchvision's files carry the classifier too
    files = {hub / 'alexnet-owt-7be5be79.pth': backbone}
    for net, chans in (('alex', (64, 192, 384, 256, 256)), ('vgg', (64, 128, 256, 512, 512))):
        files[old / f'lpips_v0.1_{net}.pth'] = {f'lin{i}.model.1.weight': rng.random((1, c, 1, 1), np.float32) * .1
                                                for i, c in enumerate(chans)}
    for path, state in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, params=state)
    alex, lpips = zoo.get_entry('alexnet'), zoo.get_entry('lpips')
    for path in files:  # the entries name these files with the test's sha256 instead of the published one
        entry, role = (alex, 'features') if path.parent == hub else (lpips, path.stem.split('_')[-1])
        monkeypatch.setitem(entry.extra['raw'], role, (path.name, sha256_file(path)))
    metrics, notes = iqa.available()
    assert 'lpips' in metrics and not zoo.cached_paths(alex)[0].exists()  # read in place, nothing converted
    img = photo_crops(1, 48)[0]
    assert metrics['lpips'].score(cv2.GaussianBlur(img, (0, 0), 2), img) > 0
    assert zoo.fetch_entry(alex, 'ncnn', progress=False) == zoo.cached_paths(alex)[0]  # converted from it, no pip


@pytest.mark.parametrize('name', ['lpips', 'lpips_vgg', 'dists'])
def test_a_reference_runs_once_and_a_pair_is_scored_once(photo_crops, perception, name, monkeypatch):
    """Several outputs against one reference, as the evaluator scores every model on an image: the reference goes
    through the network once, each output once, a pair scored again (a later pass) not at all, and every score is
    the network's own ``net(out, gt)`` in the dynamic graph (the metric's features come from its static program
    on oneDNN's kernels on the CPU: ``StaticForward``); another reference replaces the kept one."""
    import paddle
    perception(*iqa.METRICS[name][0])
    metric = iqa.available()[0][name]
    img, other = photo_crops(2, 64)
    outs = [cv2.GaussianBlur(img, (0, 0), s) for s in (0.8, 1.5)] + [img[:, ::-1].copy()]
    with paddle.no_grad():
        want = [float(metric.net(metric._tensor(o), metric._tensor(img)).numpy()[0]) for o in outs]
    passes, refs = [], []
    feats, reference = metric.feats, metric.net.reference
    monkeypatch.setattr(metric, 'feats', lambda x: passes.append(x.shape) or feats(x))
    monkeypatch.setattr(metric.net, 'reference', lambda f: refs.append(len(f)) or reference(f))
    got = [metric.score(o, img) for o in outs]
    assert got == pytest.approx(want, rel=1e-5, abs=1e-6) and len(set(got)) == 3
    assert feats._static is not None  # the static program ran them, it did not fall back
    assert len(passes) == 4  # the reference once, each output once
    assert len(refs) == 1  # what the distance reads of the reference (DISTS: its means, variances): made once
    assert [metric.score(o, img.copy()) for o in outs] == got and len(passes) == 4  # same contents: no pass
    assert metric.score(outs[0], other) != got[0] and len(passes) == 6 and len(refs) == 2  # a new reference


def test_dists_to_a_kept_reference_is_the_distance_of_the_two_features(photo_crops, perception):
    """DISTS's distance to a reference's kept statistics (``reference``, ``distance_to``: what the metric keeps for
    the many outputs scored against one GT) is the distance of the two feature lists, to the bit; and the statistics
    are of that reference: another's give another distance."""
    import paddle
    perception('vgg16', 'dists')
    net = iqa.available()[0]['dists'].net
    img, other = photo_crops(2, 64)
    with paddle.no_grad():
        fx, fy, fo = (net.feats(iqa.Metric._tensor(a)) for a in (cv2.GaussianBlur(img, (0, 0), 1.2), img, other))
        kept = net.reference(fy)
        assert net.distance_to(fx, kept).numpy().tolist() == net.distance(fx, fy).numpy().tolist()
        assert net.distance_to(fx, net.reference(fo)).numpy()[0] != net.distance(fx, fy).numpy()[0]


def test_a_static_program_that_fails_falls_back_to_the_dynamic_graph(photo_crops, perception, caplog):
    """When Paddle cannot trace or run the static program, the metric says so in one log line and scores in the
    dynamic graph from then on, with the network's own numbers."""
    import logging
    import paddle
    perception('alexnet', 'lpips')
    metric = iqa.available()[0]['lpips']
    img = photo_crops(1, 64)[0]
    out = cv2.GaussianBlur(img, (0, 0), 1.5)

    def broken(x):
        raise RuntimeError('no such kernel\nsecond line')
    metric.feats._static = broken
    with caplog.at_level(logging.INFO, logger='realesrgan_paddle.models.feature_nets.static_onednn'):
        got = metric.score(out, img)
    with paddle.no_grad():
        want = float(metric.net(metric._tensor(out), metric._tensor(img)).numpy()[0])
    assert got == pytest.approx(want, rel=1e-6) and metric.feats._static is None
    assert [r.getMessage() for r in caplog.records] == ['LPIPS features in the dynamic graph: no such kernel']
