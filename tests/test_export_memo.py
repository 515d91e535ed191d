"""tests/export_memo.py: a memoised export is the first export's files, byte for byte, and runs as a fresh export
of the same weights does (a fresh trace names its variables anew, so its bytes differ)."""
import json

import numpy as np
import paddle


def test_a_memoised_export_is_a_fresh_exports_files(tmp_path, monkeypatch):
    from realesrgan_paddle import models
    from realesrgan_paddle.inference.backends import PredictorBackend
    from realesrgan_paddle.inference.export.paddle_export import export_static
    from tests.export_memo import ENV, memo_export
    from tests.nets import srvgg
    monkeypatch.setenv(ENV, str(tmp_path / 'memo'))
    (tmp_path / 'memo').mkdir()
    arch = srvgg()

    def net(seed):
        paddle.seed(seed)
        return models.build_network(arch)
    first, seen = memo_export(net(0), arch, tmp_path / 'a')
    again, _ = memo_export(net(0), arch, tmp_path / 'b')  # copied: one entry in the memo
    other, _ = memo_export(net(1), arch, tmp_path / 'c')  # other weights: another entry
    fresh = export_static(net(0), arch, tmp_path / 'fresh')
    assert len([p for p in (tmp_path / 'memo').iterdir() if p.is_dir()]) == 2 and isinstance(seen, list)
    names = sorted(p.name for p in fresh.iterdir())
    assert names == sorted(p.name for p in first.iterdir()) == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    memo_info, fresh_info = (json.loads((d / 'model_info.json').read_text()) for d in (first, fresh))
    assert all(memo_info[k] == fresh_info[k] for k in ('arch', 'scale', 'export_rev'))
    x = np.random.default_rng(0).random((1, 3, 12, 16), dtype=np.float32)
    y = {k: PredictorBackend(d, engine='onednn', precision='fp32').forward(x) for k, d in
         (('memo', again), ('fresh', fresh), ('other', other))}
    assert np.abs(y['memo'] - y['fresh']).max() < 1e-6 and np.abs(y['memo'] - y['other']).max() > 1e-3
