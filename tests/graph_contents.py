"""What an exported graph holds: its op types and attribute names, read with Paddle's own parsers (the legacy
``ProgramDesc`` protobuf, the PIR json), for the tests that hold ``ArchSpec.export_ops`` to real exports."""
import json
from pathlib import Path

KINDS = ('legacy', 'legacy_attrs', 'pir', 'pir_attrs')  # the fields of models.export_ops.ExportOps


def legacy_contents(path):
    """``(op types, attribute names)`` of the legacy graph file ``path`` (``inference.pdmodel``)."""
    from paddle.base.proto import framework_pb2
    prog = framework_pb2.ProgramDesc()
    prog.ParseFromString(Path(path).read_bytes())
    ops = [op for block in prog.blocks for op in block.ops]
    return {op.type for op in ops}, {a.name for op in ops for a in op.attrs}


def pir_contents(path):
    """``(op names, attribute names)`` of the PIR program ``path`` (``inference.json``); a parameter op's ``A`` is
    a list of values, not of named attributes."""
    ops = json.loads(Path(path).read_text())['program']['regions'][0]['blocks'][0]['ops']
    attrs = {a['N'] for op in ops if op['#'] != 'p' for key in ('A', 'OA') for a in op.get(key) or []}
    return {op['#'] for op in ops}, attrs


def pir_trace(net, arch, folder):
    """Trace ``net`` as ``tools/export_onnx.py`` does (the ONNX-convertible ops) into ``folder``; the program's
    path."""
    from realesrgan_paddle.inference.export.paddle_export import trace_save
    from realesrgan_paddle.inference.export.onnx_ops import onnx_convertible_ops
    with onnx_convertible_ops():
        trace_save(net, arch, Path(folder) / 'inference', legacy=False)
    return Path(folder) / 'inference.json'


def outside(contents, allowed):
    """``{kind: sorted names}`` of ``contents`` (kind -> names) that ``allowed`` (kind -> names) leaves out."""
    return {k: sorted(set(names) - set(allowed[k])) for k, names in contents.items() if set(names) - set(allowed[k])}


def add_op(prog, kind, **attrs):
    """Append an op ``kind`` reading the first variable of ``prog`` (a legacy ``ProgramDesc``) to its first block,
    with string attributes ``attrs``: a planted op for the graph check to refuse."""
    op = prog.blocks[0].ops.add()
    op.type = kind
    x = op.inputs.add()
    x.parameter, x.arguments[:] = 'X', [prog.blocks[0].vars[0].name]
    for name, value in attrs.items():
        a = op.attrs.add()
        a.name, a.type, a.s = name, 2, value  # STRING
