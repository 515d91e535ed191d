"""evaluation/iqa.py: the LPIPS/DISTS metrics of tools/evaluate.py: which are available from the weights on disk
(the zoo's converted files, or torchvision's/the authors' own files), with one note per missing one."""
import cv2
import numpy as np
import pytest

from realesrgan_paddle.evaluation import iqa
from realesrgan_paddle.models import iqa_nets, zoo


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


@pytest.mark.skipif(not iqa_nets.have_weights('alexnet', 'lpips'),
                    reason='no LPIPS weights cached: python tools/download_models.py --names alexnet lpips')
def test_metric_scores_opencv_images(photo_crops):
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
