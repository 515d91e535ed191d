"""One list of image and video extensions: infer.py's folder listing and the keyframe extractor agree."""
import pytest

from realesrgan_paddle.media.kinds import IMAGE_EXTS, VIDEO_EXTS, is_image, is_video


def test_the_lists_are_disjoint_lowercase_and_matched_in_any_case():
    assert not set(IMAGE_EXTS) & set(VIDEO_EXTS)
    assert all(e == e.lower() and e.startswith('.') for e in IMAGE_EXTS + VIDEO_EXTS)
    assert is_image('a/B.PNG') and is_video('C.M2TS') and not is_image('x.mp4') and not is_video('x.png')


@pytest.mark.parametrize('ext', VIDEO_EXTS)
def test_infer_and_the_keyframe_extractor_pick_the_same_videos(tmp_path, ext):
    from realesrgan_paddle.data.builder.sources import find_videos
    from realesrgan_paddle.inference.upscale_cli import expand_inputs
    (tmp_path / f'clip{ext}').write_bytes(b'')
    (tmp_path / f'CLIP2{ext.upper()}').write_bytes(b'')
    (tmp_path / 'notes.txt').write_text('x')
    assert [p.name for p in expand_inputs(str(tmp_path))] == [p.name for p in find_videos([tmp_path])]
    assert len(find_videos([tmp_path])) == 2


def test_m2ts_is_a_video_for_both(tmp_path):
    from realesrgan_paddle.data.builder.sources import find_videos
    from realesrgan_paddle.inference.upscale_cli import expand_inputs
    (tmp_path / 'match.m2ts').write_bytes(b'')
    assert [p.name for p in expand_inputs(str(tmp_path))] == ['match.m2ts'] == [p.name for p in find_videos([tmp_path])]


def test_every_image_lister_uses_the_one_list(tmp_path):
    from realesrgan_paddle.data.builder.images import list_images
    from realesrgan_paddle.data.datasets import scan_images
    from realesrgan_paddle.inference.upscale_cli import expand_inputs
    from realesrgan_paddle.evaluation.evaluator import list_images as eval_images
    for ext in IMAGE_EXTS:
        (tmp_path / f'img{ext[1:]}{ext.upper()}').write_bytes(b'')
    (tmp_path / 'x.tga').write_bytes(b'')  # no decoder here reads TGA: listed by none
    want = sorted(f'img{e[1:]}{e.upper()}' for e in IMAGE_EXTS)
    assert sorted(p.name for p in list_images(tmp_path)) == want
    assert sorted(scan_images(tmp_path)) == want
    assert sorted(p.name for p in expand_inputs(str(tmp_path))) == want
    assert sorted(p.name for p in eval_images(tmp_path)) == want
