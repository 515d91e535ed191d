"""GT/LQ pairs made from real photos, for the tests of the evaluator, the pipeline and the paired dataset."""
import cv2


def centre_crop(img, w, h):
    """The ``w`` x ``h`` window at the centre of ``img``."""
    y, x = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return img[y:y + h, x:x + w]


def write_pairs(root, photos, gt_of, scale=4):
    """``root/gt`` and ``root/lq`` with the same file names: ``gt_of(photo)`` and its area-shrunk LQ (the GT cut
    to a multiple of ``scale`` first). Returns ``(gt_dir, lq_dir)``."""
    gt_dir, lq_dir = root / 'gt', root / 'lq'
    gt_dir.mkdir(parents=True, exist_ok=True)
    lq_dir.mkdir(exist_ok=True)
    for p in photos:
        gt = gt_of(cv2.imread(str(p), cv2.IMREAD_COLOR))
        h, w = gt.shape[0] // scale, gt.shape[1] // scale
        cv2.imwrite(str(gt_dir / p.name), gt)
        cv2.imwrite(str(lq_dir / p.name), cv2.resize(gt[:h * scale, :w * scale], (w, h), interpolation=cv2.INTER_AREA))
    return gt_dir, lq_dir
