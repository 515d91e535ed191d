"""Each network declares the ops its exports hold (``ArchSpec.export_ops``, models/export_ops.py) and the graph check
(checkpoint_io/graph_check.py) reads those declarations: it holds the graph's plumbing and no network's list.

Every registered generator is exported in its tiny config (tests/models/tiny_archs.py) and in the variants whose
graphs hold other ops (``VARIANTS``), legacy (``tools/export_model.py``, opened through the whole check) and PIR
(the program ``tools/export_onnx.py`` hands to paddle2onnx, checked too): each graph holds only the plumbing and
its own network's declaration, and each declared name is in one of its network's graphs, so a declaration cannot
rot and the check allows what the exports hold, no more. The check's lists are the plumbing plus the registered
declarations (a network registered at run time counts); a hostile op is refused; the checkers name no network."""
import re
from pathlib import Path

import pytest

from tests.graph_contents import KINDS, add_op, legacy_contents, outside, pir_contents, pir_trace
from tests.models.tiny_archs import TINY_ARCHS

ROOT = Path(__file__).resolve().parents[2]
# beyond each tiny config: the variants whose graphs hold more ops (upsamplers, skips, activations, one channel, the
# compact net's unsharp mask),
# the scales the unshuffle changes, and the forms exports keep: 'rev1', the network itself traced (export_rev 1);
# 'dni', a blend of two weights files
VARIANTS = {
    'RRDBNet': [dict(scale=4), dict(scale=1)],
    'LowBandRRDBNet': [dict(corr_up=2), 'dni'],
    'SRVGGNetCompact': [dict(skip='bilinear'), dict(upscale=3, act_type='leakyrelu'), dict(num_in_ch=1, num_out_ch=1),
                        'rev1', dict(sharpen=0.5)],
    'DAT': [dict(resi_connection='3conv', upsampler='pixelshuffle')],
    'RealCUGAN': [dict(scale=4), dict(se=True)],
    'SwinIR': [dict(upscale=4, upsampler='nearest+conv')],
    'RCAN': [dict(scale=1, unshuffle_mod=True)],
    'DITN': [dict(bias=True, upscale=3)],
    'MoSR': [dict(upsampler='gps'), dict(upsampler='dys')],
    'GRL': [dict(upscale=4, upsampler='nearest+conv', anchor_proj_type='separable_conv', anchor_one_stage=False,
                 conv_type='3conv', local_connection=True, embed_dim=32),
            dict(upscale=1, upsampler='', anchor_proj_type='patchmerging', conv_type='linear',
                 qkv_proj_type='separable_conv'),
            dict(upsampler='pixelshuffledirect', anchor_proj_type='conv2d', conv_type='1conv1x1')],
    'ATD': [dict(upscale=4, upsampler='nearest+conv', resi_connection='3conv'), dict(upsampler='pixelshuffle')],
}


def _base():
    from realesrgan_paddle.checkpoint_io import graph_check as gc
    return dict(zip(KINDS, (gc.LEGACY_BASE, gc.LEGACY_BASE_ATTRS, gc.PIR_BASE, gc.PIR_BASE_ATTRS)))


def _declared(spec):
    return {k: getattr(spec.export_ops, k) for k in KINDS}


def _legacy_export(net, arch, folder):
    """The export's legacy graph, opened as every entry point opens it (the whole check), and its contents."""
    from realesrgan_paddle.inference.export.paddle_export import open_export
    from tests.export_memo import memo_export
    open_export(memo_export(net, arch, folder)[0])  # export_static's files, made once a session
    return legacy_contents(folder / 'inference.pdmodel')


def _rev1(net, folder):
    """export_rev 1's legacy graph: the network itself traced, not its ``export_layer``."""
    import paddle

    from realesrgan_paddle.checkpoint_io.graph_check import check_graph
    with paddle.pir_utils.OldIrGuard():
        spec = [paddle.static.InputSpec([None, 3, None, None], 'float32', 'x')]
        paddle.jit.save(paddle.jit.to_static(net, input_spec=spec, full_graph=True), str(folder / 'inference'))
    check_graph(folder / 'inference.pdmodel')
    return legacy_contents(folder / 'inference.pdmodel')


def _dni(arch, folder):
    from realesrgan_paddle import models
    from realesrgan_paddle.models.dni import write_dni
    from tests.nets import save_tiny
    folder.mkdir(parents=True)
    a, b = save_tiny(folder / 'a.pdparams', arch, 1), save_tiny(folder / 'b.pdparams', arch, 2)
    net, blended = models.load_network(write_dni(a, b, 0.3, folder / 'dni.pdparams'))
    return _legacy_export(net, blended, folder / 'export')


def _graphs(name, tmp):
    """``[(label, {kind: names})]``: the graphs of network ``name`` in its tiny config and ``VARIANTS``."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.graph_check import check_graph
    out = []
    for i, form in enumerate(['tiny'] + VARIANTS.get(name, [])):
        arch = {**TINY_ARCHS[name], **(form if isinstance(form, dict) else {})}
        label, folder = f'{name} {form}', tmp / f'{i}'
        paddle.seed(0)
        net = models.build_network(arch)
        if form == 'dni':
            out.append((label, dict(zip(KINDS, _dni(arch, folder)))))
            continue
        if form == 'rev1':
            out.append((label, dict(zip(KINDS, _rev1(net, folder)))))
            continue
        contents = dict(zip(KINDS, _legacy_export(net, arch, folder / 'legacy')))
        program = pir_trace(net, arch, folder / 'pir')
        check_graph(program)
        contents.update(zip(KINDS[2:], pir_contents(program)))
        out.append((label, contents))
    return out


def _problems(spec, graphs, base):
    """What is wrong with ``spec``'s declaration against its network's ``graphs``; and the names they hold."""
    declared, held, problems = _declared(spec), {k: set() for k in KINDS}, []
    for label, contents in graphs:
        for k, names in contents.items():
            held[k] |= names
        extra = outside(contents, {k: base[k] | declared[k] for k in KINDS})
        if extra:
            problems.append(f'{label}: holds {extra}, beyond the plumbing and its export_ops')
    unused = outside(declared, held)
    if unused:
        problems.append(f'{spec.name}: export_ops declares {unused}, which none of its graphs holds')
    repeated = {k: sorted(declared[k] & base[k]) for k in KINDS if declared[k] & base[k]}
    if repeated:
        problems.append(f'{spec.name}: export_ops repeats the plumbing {repeated}')
    return problems, held


@pytest.mark.slow(seconds=60)
def test_every_network_declares_what_its_exports_hold(tmp_path):
    """Per network: its graphs hold only the plumbing and its declaration, and each declared name is in one of
    them. The plumbing is shared: each of its names is in the graphs of more than half the networks (so no
    network's op hides in it)."""
    from realesrgan_paddle import models
    specs = [s for s in models.all_specs() if s.generator]
    assert sorted(s.name for s in specs) == sorted(TINY_ARCHS), 'a generator without a tiny config'
    base, problems, held = _base(), [], {}
    for spec in specs:
        found, held[spec.name] = _problems(spec, _graphs(spec.name, tmp_path / spec.name), base)
        problems += found
    for k in KINDS:
        for name in sorted(base[k]):
            holders = sum(name in h[k] for h in held.values())
            if 2 * holders <= len(held):
                problems.append(f'the plumbing ({k}) names {name!r}, which {holders} of {len(held)} networks\' '
                                'graphs hold: declare it beside the networks that write it')
    assert not problems, '\n'.join(problems)


def _with_op(graph, out, kind, **attrs):
    """``graph`` (a legacy graph file) with one more op ``kind`` reading its first variable, written to ``out``."""
    from paddle.base.proto import framework_pb2
    prog = framework_pb2.ProgramDesc()
    prog.ParseFromString(graph.read_bytes())
    add_op(prog, kind, **attrs)
    out.write_bytes(prog.SerializeToString())
    return out


def test_the_check_allows_the_plumbing_and_the_registered_declarations(tmp_path):
    """``graph_check.allowed()``, once every family is imported, is the plumbing plus every registered spec's
    ``export_ops`` (the oneDNN graph's: those plus Paddle Inference's fused ops), and the check follows the
    registry: an op declared by a network registered at run time passes while it is registered and is refused
    after. Paddle's ``save`` op (it writes a file) is declared by no network and refused, in one line naming the
    file."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io import graph_check as gc
    from realesrgan_paddle.inference.export.paddle_export import export_static
    from realesrgan_paddle.models.export_ops import ExportOps
    specs = models.all_specs()  # every family imported first: allowed() is the union over the loaded ones
    allowed = gc.allowed()
    for k, base in _base().items():
        assert getattr(allowed, k) == base.union(*(getattr(s.export_ops, k) for s in specs)), k
    assert allowed.optimized == allowed.legacy | gc.FUSED_OPS
    assert allowed.optimized_attrs == allowed.legacy_attrs | gc.FUSED_ATTRS
    paddle.seed(0)
    arch = TINY_ARCHS['SRVGGNetCompact']
    graph = export_static(models.build_network(arch), arch, tmp_path / 'export') / 'inference.pdmodel'
    gc.check_graph(graph)
    saving = _with_op(graph, tmp_path / 'save.pdmodel', 'save', file_path=str(tmp_path / 'written'))
    with pytest.raises(gc.GraphRefused, match=f"^{re.escape(str(saving))}: refused: op 'save' is not one") as e:
        gc.check_graph(saving)
    assert '\n' not in str(e.value)
    erf = _with_op(graph, tmp_path / 'erf.pdmodel', 'erf')  # no network's export writes erf
    with pytest.raises(gc.GraphRefused, match="op 'erf' is not one"):
        gc.check_graph(erf)
    spec = models.ArchSpec('NetWithErf', models.get_spec(arch).cls, scale_key='upscale', export_ops=ExportOps('erf'))
    models.register(spec)
    try:
        assert 'erf' in gc.allowed().legacy and 'erf' not in allowed.legacy
        gc.check_graph(erf)
    finally:
        models.unregister('NetWithErf')
    with pytest.raises(gc.GraphRefused, match="op 'erf' is not one"):
        gc.check_graph(erf)


def test_the_checkers_name_no_network():
    """checkpoint_io/graph_check.py and inference/export/onnx_check.py hold no registered network's name and no network
    module's name (as a word, in any line): what a network's export holds is declared beside it."""
    from realesrgan_paddle import models
    specs = models.all_specs()
    names = {s.name for s in specs} | {s.cls.__module__.rsplit('.', 1)[-1] for s in specs}
    assert {'RRDBNet', 'SPAN', 'span', 'hat', 'swinir', 'waifu2x'} <= names  # the names are really collected
    for checker in ('checkpoint_io/graph_check.py', 'inference/export/onnx_check.py'):
        text = (ROOT / checker).read_text(encoding='utf-8')
        found = sorted(n for n in names if re.search(rf'\b{re.escape(n)}\b', text))
        assert not found, f'{checker} names {found}: declare the ops in the network\'s module (ArchSpec.export_ops)'
