"""tools/convert_torch.py: the command line (single file, directory, flags, --verify, refusals)."""
import importlib.util
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from tests.skips import SAFETENSORS_SKIP, need_reference
from tests.nets import srvgg
from tests.cli_checks import a_line, one_line

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'convert_torch.py'


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


convert = _load('convert_torch_cli', TOOL)


class _Touch:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f'touch {self.path}',)


def _evil_pth(path, marker):
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('archive/data.pkl', pickle.dumps({'params': {'w': _Touch(marker)}}, protocol=2))
        zf.writestr('archive/version', '3\n')
    return path


def _srvgg_state(num_feat=4, num_conv=2, upscale=2, prelu=True, seed=0):
    rng = np.random.default_rng(seed)
    state, idx = {}, 0
    cin = 3
    for i in range(num_conv + 2):
        cout = 3 * upscale ** 2 if i == num_conv + 1 else num_feat
        state[f'body.{idx}.weight'] = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) * 0.1
        state[f'body.{idx}.bias'] = rng.standard_normal(cout).astype(np.float32) * 0.1
        if i <= num_conv and prelu:
            state[f'body.{idx + 1}.weight'] = np.full(num_feat, 0.2, np.float32)
        idx += 2
        cin = num_feat
    return state


def _save_pdparams_plain(path, obj):
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=4)
    return path


def test_cli_refuses_malicious_pickle_in_one_line(tmp_path):
    marker = tmp_path / 'pwned'
    src = _evil_pth(tmp_path / 'evil.pth', marker)
    out = tmp_path / 'out.pdparams'
    proc = subprocess.run([sys.executable, str(TOOL), '--input', str(src), '--output', str(out)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    one_line(lines, src, 'posix.system')  # the file and the callable it refused
    assert not marker.exists() and not out.exists()


def test_directory_mode_converts_the_good_and_reports_the_bad(tmp_path, capsys):
    src = tmp_path / 'in'
    src.mkdir()
    marker = tmp_path / 'pwned'
    _save_pdparams_plain(src / 'a_srvgg.pth', {'params_ema': _srvgg_state()})  # a plain pickle named .pth
    _evil_pth(src / 'b_evil.pth', marker)
    (src / 'c_text.pth').write_text('not a checkpoint')
    _save_pdparams_plain(src / 'd_unknown.pth', {'params': {'foo.weight': np.zeros((2, 2), np.float32)}})
    (src / 'notes.txt').write_text('ignored')
    out = tmp_path / 'out'
    rc = convert.main(['--input', str(src), '--output', str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert sorted(p.name for p in out.iterdir()) == ['a_srvgg.pdparams']
    a_line(err, src / 'b_evil.pth', 'posix.system')  # each refused file named, with what it is refused for
    a_line(err, src / 'c_text.pth')
    a_line(err, src / 'd_unknown.pth', 'architecture')
    a_line(err, '1 of 4')
    assert not marker.exists()


def test_an_output_it_cannot_write_is_named_as_the_output(tmp_path, capsys):
    """It was reported as the input's error: 'a.pth: [Errno 17] File exists'."""
    src = _save_pdparams_plain(tmp_path / 'a.pth', {'params': _srvgg_state()})
    (tmp_path / 'a_file').write_text('x')
    assert convert.main(['--input', str(src), '--output', str(tmp_path / 'a_file' / 'a.pdparams')]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f'cannot write {tmp_path / "a_file"}: a part of the path is a file, not a folder']
    folder = tmp_path / 'in'
    folder.mkdir()
    _save_pdparams_plain(folder / 'b.pth', {'params': _srvgg_state()})
    (tmp_path / 'out').symlink_to('gone')
    assert convert.main(['--input', str(folder), '--output', str(tmp_path / 'out')]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f'error: cannot write {tmp_path / "out"}: {tmp_path / "out"} is a broken symbolic link (to gone, which does '
        'not exist)']


def test_written_file_carries_arch_and_meta(tmp_path):
    from realesrgan_paddle.checkpoint_io.state_file import load_state_file, sha256_file
    from realesrgan_paddle import models
    src = _save_pdparams_plain(tmp_path / 'general.pth', {'params': _srvgg_state(prelu=False)})
    dst = tmp_path / 'general.pdparams'
    assert convert.main(['--input', str(src), '--output', str(dst), '--act_type', 'leakyrelu']) == 0
    raw = load_state_file(dst)
    assert raw['arch'] == {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 4,
                           'num_conv': 2, 'upscale': 2, 'act_type': 'leakyrelu'}
    assert raw['meta']['source'] == 'general.pth' and raw['meta']['sha256'] == sha256_file(src)
    assert raw['meta']['param_key'] == 'params'
    net, arch = models.load_network(dst)  # no flags needed any more
    assert arch['act_type'] == 'leakyrelu' and type(net.body[1]).__name__ == 'LeakyReLU'


def test_flags_checked_against_the_weights(tmp_path, capsys):
    src = _save_pdparams_plain(tmp_path / 'v.pth', {'params_ema': _srvgg_state(num_conv=3, upscale=4)})
    dst = tmp_path / 'v.pdparams'
    assert convert.main(['--input', str(src), '--output', str(dst), '--scale', '4', '--num_conv', '3']) == 0
    capsys.readouterr()
    for flags, problem in ((['--scale', '2'], '--scale 2 does not match the weights (upscale=4 found)'),
                           (['--block', '23'], '--block does not apply to SRVGGNetCompact'),
                           (['--arch', 'RRDBNet'], '--arch RRDBNet does not match the weights'),
                           (['--act_type', 'relu'], '--act_type relu does not match the weights (act_type=prelu')):
        assert convert.main(['--input', str(src), '--output', str(dst), *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f'{src}: {problem}'), err


def test_weights_that_do_not_fit_are_one_line(tmp_path, capsys):
    state = _srvgg_state()
    del state['body.2.bias']
    src = _save_pdparams_plain(tmp_path / 'broken.pth', state)
    assert convert.main(['--input', str(src), '--output', str(tmp_path / 'broken.pdparams')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    one_line(err, src, 'SRVGGNetCompact', 'body.2.bias')  # the file, the network and the missing key
    assert not (tmp_path / 'broken.pdparams').exists()


def test_never_overwrites_the_input(tmp_path, capsys):
    src = _save_pdparams_plain(tmp_path / 'same.pdparams', {'params': _srvgg_state()})
    before = src.read_bytes()
    assert convert.main(['--input', str(src), '--output', str(src)]) == 2
    one_line(capsys.readouterr().err, src)
    assert src.read_bytes() == before
    assert convert.main(['--input', str(src)]) == 2  # default output would be the input itself
    assert src.read_bytes() == before


def test_safetensors_input(tmp_path):
    st = pytest.importorskip('safetensors.numpy', reason=SAFETENSORS_SKIP)
    state = _srvgg_state(upscale=3)
    src = tmp_path / 'anime.safetensors'
    st.save_file(state, str(src))
    assert convert.main(['--input', str(src), '--output', str(tmp_path)]) == 0  # --output: a directory
    from realesrgan_paddle import models
    net, arch = models.load_network(tmp_path / 'anime.pdparams')
    assert arch['upscale'] == 3
    for k, v in state.items():
        np.testing.assert_array_equal(net.state_dict()[k].numpy(), v)


def test_verify_reports_diff_with_torch(tmp_path, capsys, torch):
    ta = need_reference()
    torch.manual_seed(0)
    net = ta.RRDBNet(scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    src = tmp_path / 'x2.pth'
    torch.save({'params_ema': net.state_dict(), 'params': ta.RRDBNet(scale=2, num_feat=8, num_block=1,
                                                                     num_grow_ch=4).state_dict()}, src)
    assert convert.main(['--input', str(src), '--output', str(tmp_path / 'x2.pdparams'), '--verify']) == 0
    out = capsys.readouterr().out
    line = [s for s in out.splitlines() if 'verify: max abs diff' in s]
    assert line and line[0].rstrip().endswith(': ok'), out
    assert 'from params_ema' in out
    diff = float(line[0].split('max abs diff ')[1].split()[0])
    assert diff <= 1e-4


def test_verify_without_torch_says_skipped(tmp_path, capsys, monkeypatch):
    src = _save_pdparams_plain(tmp_path / 'v.pth', {'params': _srvgg_state()})
    monkeypatch.setitem(sys.modules, 'torch', None)  # import torch -> ImportError
    assert convert.main(['--input', str(src), '--output', str(tmp_path / 'v.pdparams'), '--verify']) == 0
    a_line(capsys.readouterr().out, 'verify', 'skipped', 'torch')


def _tiny_state():
    from realesrgan_paddle import models
    arch = srvgg(num_feat=4, upscale=2)
    return arch, {k: v.numpy() for k, v in models.build_network(arch).state_dict().items()}


def _run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def _error_lines(stderr):
    assert 'Traceback' not in stderr, stderr[-2000:]
    return [ln for ln in stderr.splitlines() if ln.strip() and 'Warning' not in ln and 'warnings.warn' not in ln]


def test_complex_weights_are_refused_with_one_line(tmp_path):
    """They were converted with exit 0 before; only predict refused them."""
    arch, state = _tiny_state()
    first = next(iter(state))
    state[first] = state[first].astype(np.complex64)
    src = tmp_path / 'c.pdparams'
    with open(src, 'wb') as f:
        pickle.dump({'params': state, 'arch': arch}, f, protocol=4)
    res = _run_tool('-i', src, '-o', tmp_path / 'out.pdparams')
    lines = _error_lines(res.stderr)
    assert res.returncode == 2 and one_line(lines, src, first, 'complex64'), res.stderr
    assert not (tmp_path / 'out.pdparams').exists()


def test_two_inputs_with_one_stem_are_refused_before_converting(tmp_path):
    """a.pth and a.safetensors both wrote a.pdparams and the tool said 'converted 2 of 2'."""
    import struct
    import json as _json
    _, state = _tiny_state()
    d = tmp_path / 'in'
    d.mkdir()
    with open(d / 'a.pth', 'wb') as f:
        pickle.dump({'params': state}, f, protocol=4)
    header, blobs, off = {}, [], 0
    for k, a in state.items():
        raw = a.astype('<f4').tobytes()
        header[k] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    head = _json.dumps(header).encode()
    (d / 'a.safetensors').write_bytes(struct.pack('<Q', len(head)) + head + b''.join(blobs))
    res = _run_tool('-i', d, '-o', tmp_path / 'out')
    lines = _error_lines(res.stderr)
    assert res.returncode == 2 and len(lines) == 1 and 'Traceback' not in res.stderr, res.stderr
    assert 'a.pth' in lines[0] and 'a.safetensors' in lines[0]
    assert not (tmp_path / 'out' / 'a.pdparams').exists()
