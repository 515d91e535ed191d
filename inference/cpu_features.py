"""What the CPU offers the engines, read from /proc/cpuinfo once per process (no other imports: the
backends and the precision choice both read it). ``facts()`` is what the upscaler reads once and passes down, so
that the precision choice and the backend never call back here."""
from pathlib import Path

BF16_FLAGS = {'avx512_bf16', 'amx_bf16'}
_CPU = {}


def _cpuinfo(cpuinfo='/proc/cpuinfo'):
    """(model name, set of flags) of the first processor in ``cpuinfo``; ('', empty) when unreadable."""
    if cpuinfo in _CPU:
        return _CPU[cpuinfo]
    try:
        text = Path(cpuinfo).read_text(errors='replace')
    except OSError:
        text = ''
    name, flags = '', None
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key.strip() == 'model name' and not name:
            name = value.strip()
        elif key.strip() == 'flags' and flags is None:
            flags = frozenset(value.split())
    found = (name, flags or frozenset())
    if cpuinfo == '/proc/cpuinfo':
        _CPU[cpuinfo] = found
    return found


def native_bf16(cpuinfo='/proc/cpuinfo'):
    """True when the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    return facts(cpuinfo)[2]


def facts(cpuinfo='/proc/cpuinfo'):
    """``(model name, flags, native bf16)``: the CPU's facts in one read, to pass down."""
    name, flags = _cpuinfo(cpuinfo)
    return name, flags, bool(flags & BF16_FLAGS)
