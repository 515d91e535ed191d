"""The ncnn layers the U-Net graphs need (Real-CUGAN, waifu2x): their ``.bin`` readers, and the importer's error.

``models.ncnn_import.read_bin`` hands each of these layer types to ``EXTRA_READERS``; they attach the layer's
arrays to ``Layer.blobs`` as ``read_bin`` does for convolutions:

* ``Deconvolution``: kernel tagged (fp16 or fp32) in ncnn's ``[out, in, kh, kw]`` order, bias raw fp32;
* ``InnerProduct``: ``[out, in]`` tagged, bias raw fp32;
* ``Scale``: none when the scale comes from a second input (``0=-233``, the SE blocks of waifu2x's CUNet), else
  the raw fp32 scales and bias;
* ``Pooling``, ``Crop``: no weights.
"""


class NcnnFormatError(ValueError):
    """The .param/.bin pair is malformed or holds a graph we cannot map."""


def _sized(L, where, what):
    """``(num_output, weight size)`` of a weighted layer, checked to be positive."""
    out, size = L.p(0), L.p(2 if L.type == 'InnerProduct' else 6)
    if L.p(8, 0):
        raise NcnnFormatError(f'{where}: {L.name} is an int8 {what}')
    if not out or not size or size % out:
        raise NcnnFormatError(f'{where}: {L.name} has inconsistent sizes (num_output {out}, weight size {size})')
    return out, size


def read_deconvolution(L, rd):
    out, size = _sized(L, rd.path, 'deconvolution')
    kw = L.p(1, 0)
    kh = L.p(11, kw)
    if not kw or size % (out * kw * kh):
        raise NcnnFormatError(f'{rd.path}: {L.name} kernel {kh}x{kw} does not divide its weight size {size}')
    L.blobs['weight'] = rd.tagged(size, f'{L.name} weights').reshape(out, size // (out * kw * kh), kh, kw)
    if L.p(5, 0):
        L.blobs['bias'] = rd.raw_fp32(out, f'{L.name} bias')


def read_inner_product(L, rd):
    out, size = _sized(L, rd.path, 'inner product')
    L.blobs['weight'] = rd.tagged(size, f'{L.name} weights').reshape(out, size // out, 1, 1)
    if L.p(1, 0):
        L.blobs['bias'] = rd.raw_fp32(out, f'{L.name} bias')


def read_scale(L, rd):
    n = L.p(0, 0)
    if n == -233:  # scales come from the second input blob
        return
    L.blobs['scale'] = rd.raw_fp32(n, f'{L.name} scales')
    if L.p(1, 0):
        L.blobs['bias'] = rd.raw_fp32(n, f'{L.name} bias')


def no_weights(L, rd):
    return None


EXTRA_READERS = {'Deconvolution': read_deconvolution, 'InnerProduct': read_inner_product, 'Scale': read_scale,
                 'Pooling': no_weights, 'Crop': no_weights}
