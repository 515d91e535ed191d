"""ncnn files an attacker made from the real ones (tests/models/ncnn_hostile_files.py: a wheel's .param read and
edited, its .bin beside it): tools/convert_torch.py refuses each in one line naming the file (and the layer, made
printable), exit 2, nothing written; none gets a traceback or a wrong model (docs/reliability.md, ncnn files).
The files that took memory past 3 GiB are in test_ncnn_memory.py. The real files still import bit for bit:
test_ncnn_import.py and the architecture tests."""
import os
import shutil
import signal

import numpy as np
import pytest

from realesrgan_paddle.models.ncnn import ncnn_bounds
from realesrgan_paddle.models.ncnn.ncnn_import import NcnnFormatError, import_ncnn, parse_param, read_bin
from tests.cli_checks import one_line
from tests.models.ncnn_hostile_files import (convert_tool, edit_layer, hostile, real_files, recount, rename_blob,
                                            set_key, widen)


def refused(capsys, param, *words):
    """The tool's one line for ``param`` (exit 2, no output file); it names the file and each of ``words``."""
    out = param.with_name('out.pdparams')
    assert convert_tool().main(['--input', str(param), '--output', str(out)]) == 2
    assert not out.exists()
    line = one_line(capsys.readouterr().err, str(param), *words)
    print(line)
    return line


# ---------------------------------------------------------------- graphs whose connections were never read

def test_a_cycle_is_refused(tmp_path, capsys):
    """PRelu_1 reads Conv_2's output and Conv_2 PRelu_1's: before, an SRVGGNetCompact that loads."""
    param = hostile(tmp_path, 'animevideov3', rename_blob('PRelu_1', 0, '57'))
    refused(capsys, param, 'PRelu_1', 'reads blob 57', 'cycle')


def test_a_dangling_input_is_refused(tmp_path, capsys):
    param = hostile(tmp_path, 'animevideov3', rename_blob('Conv_4', 0, 'ghost'))
    refused(capsys, param, 'Conv_4', 'ghost', 'dangling')


def test_a_dangling_output_is_refused(tmp_path, capsys):
    """The input's Split gains an output nobody reads: two graph outputs."""
    param = hostile(tmp_path, 'animevideov3', edit_layer('splitncnn_input0', lambda t: t[:3] + ['3'] + t[4:] + ['c']))
    refused(capsys, param, '2 blobs are never read', 'c')


def test_a_blob_read_twice_is_refused(tmp_path, capsys):
    """Conv_34 reads Conv_32's output, which PRelu_33 reads already (and PRelu_33's output then leads nowhere)."""
    param = hostile(tmp_path, 'animevideov3', rename_blob('Conv_34', 0, '102'))
    refused(capsys, param, 'Conv_34', 'reads blob 102', 'Split')


def test_an_input_that_never_reaches_the_output_is_refused(tmp_path, capsys):
    """The network's output made a second Input's: the real input then leads nowhere."""
    def edit(lines):
        return lines[:2] + ['Input other 0 1 alone', 'ReLU r 1 1 alone unread'] + lines[2:]
    refused(capsys, hostile(tmp_path, 'animevideov3', edit), '2 Input layers')


# ---------------------------------------------------------------- the family's layers, connected as it has them

@pytest.mark.parametrize('key, edit, words', [
    ('animevideov3', set_key('Resize_37', 0, 2), ['Resize_37', 'Interp']),  # a bilinear skip, not nearest
    ('animevideov3', set_key('Conv_2', 3, 2), ['Conv_2', 'SRVGGNetCompact']),  # stride 2
    ('animevideov3', set_key('Conv_2', 4, 0), ['Conv_2', 'SRVGGNetCompact']),  # no padding
    ('x4plus-anime', set_key('Add_16', -23301, '2,3.000000e-01,1.000000e+00'), ['Add_16', 'RRDBNet']),
    ('x4plus-anime', set_key('Conv_1', -23310, '1,1.000000e-01'), ['Conv_1', 'RRDBNet']),  # LeakyReLU 0.1
    ('span', set_key('/block_1/Sub', 2, '2.500000e-01'), ['/block_1/Sub', 'SPAN']),  # sigmoid - 0.25
    ('upconv7', set_key('conv7_layer', 4, 2), ['conv7_layer', 'UpConv7']),
    ('cugan', set_key('pad_9', -23309, '2,5,5'), ['pad_9', 'RealCUGAN']),
    ('cunet', set_key('Eltwise1', 0, 0), ['Eltwise1', 'CUNet']),  # a product, not a sum
])
def test_a_layer_the_family_does_not_have_there_is_refused(tmp_path, capsys, key, edit, words):
    """Each imported before as a network computing something else (exit 0)."""
    refused(capsys, hostile(tmp_path, key, edit), *words)


def test_a_graph_rewired_with_its_widths_intact_is_refused(tmp_path, capsys):
    """The first dense block's last concatenation takes the block input and the first conv's output in the other
    order (64 + 32 channels either way): before, an RRDBNet whose conv5 reads its channels permuted."""
    edit = edit_layer('Concat_12', lambda t: t[:4] + [t[5], t[4]] + t[6:])
    refused(capsys, hostile(tmp_path, 'x4plus-anime', edit), 'not the graph of RRDBNet')


def test_the_graph_not_the_line_order_names_the_weights(tmp_path):
    """The skip's Interp moved before the convolutions and the Add's inputs swapped: the same network, the same
    weights under the same names."""
    def edit(lines):
        skip = next(ln for ln in lines if ln.startswith('Interp'))
        lines = [ln for ln in lines if ln is not skip]
        at = next(i for i, ln in enumerate(lines) if ln.startswith('Split'))
        lines = lines[:at + 1] + [skip] + lines[at + 1:]
        return edit_layer('Add_38', lambda t: t[:4] + [t[5], t[4]] + t[6:])(lines)
    param = hostile(tmp_path, 'animevideov3', edit)
    state, arch, _ = import_ncnn(param, param.with_suffix('.bin'))
    ref_state, ref_arch, _ = import_ncnn(*real_files('animevideov3'))
    assert arch == ref_arch and state.keys() == ref_state.keys()
    assert all(np.array_equal(state[k], ref_state[k]) for k in state)


def _fused_srvgg(tmp_path, act_keys, name):
    """animevideov3 with its activations fused into the convolutions (``act_keys`` added to each but the last):
    the PReLU layers dropped from the .param and their slopes from the .bin (written again, in fp32)."""
    param, binf = real_files('animevideov3')
    layers = read_bin(parse_param(param), binf)
    through = {L.outputs[0]: L.inputs[0] for L in layers if L.type == 'PReLU'}
    last = [L for L in layers if L.type == 'Convolution'][-1]
    lines, chunks = param.read_text().splitlines()[:2], []
    for L, line in zip(layers, param.read_text().splitlines()[2:]):
        if L.type == 'PReLU':
            continue
        tok = line.split()
        tok[4:4 + len(L.inputs)] = [through.get(b, b) for b in L.inputs]
        if L.type == 'Convolution':
            tok += act_keys if L is not last else []
            chunks += [bytes(4), L.blobs['weight'].astype('<f4').tobytes(), L.blobs['bias'].astype('<f4').tobytes()]
        lines.append(' '.join(tok))
    out = tmp_path / f'{name}.param'
    out.write_text('\n'.join(recount(lines)) + '\n')
    out.with_suffix('.bin').write_bytes(b''.join(chunks))
    return out


@pytest.mark.parametrize('keys, act_type', [(['9=2', '-23310=1,1.000000e-01'], 'leakyrelu'), (['9=1'], 'relu')])
def test_an_srvgg_with_fused_activations_imports(tmp_path, keys, act_type):
    """The form an SRVGGNetCompact with ReLU or LeakyReLU 0.1 takes in ncnn: the activations inside the convs."""
    param = _fused_srvgg(tmp_path, keys, 'fused')
    state, arch, post = import_ncnn(param, param.with_suffix('.bin'))
    ref_state, ref_arch, _ = import_ncnn(*real_files('animevideov3'))
    assert arch == {**ref_arch, 'act_type': act_type} and post is None
    assert sorted(state) == sorted(k for k in ref_state if int(k.split('.')[1]) % 2 == 0)
    assert all(np.array_equal(state[k], ref_state[k]) for k in state)


@pytest.mark.parametrize('keys', [['9=2', '-23310=0'], ['9=2', '-23310=1,2.000000e-01'], ['9=4']])
def test_an_srvgg_with_another_fused_activation_is_refused(tmp_path, capsys, keys):
    refused(capsys, _fused_srvgg(tmp_path, keys, 'fused'), 'Conv_0', 'none of SRVGGNetCompact')


def test_a_unet_graph_without_convolutions_is_refused(tmp_path, capsys):
    """UpConv7's transposed conv reading the input directly (it crashed with an IndexError)."""
    def edit(lines):
        kept = [ln for ln in lines if not ln.startswith('Convolution')]
        return set_key('conv7_layer', 6, 3 * 3 * 16)(rename_blob('conv7_layer', 0, 'Input1')(kept))
    refused(capsys, hostile(tmp_path, 'upconv7', edit), 'no Convolution')


# ---------------------------------------------------------------- widths and values

@pytest.mark.parametrize('key, edit, words', [
    ('span', set_key('/block_3/c2_r/eval_conv/Conv', 0, 52) , ['/block_3/c2_r/eval_conv/Conv', '20736']),
    ('span', lambda ls: set_key('/block_3/c2_r/eval_conv/Conv', 6, 22464)(
        set_key('/block_3/c2_r/eval_conv/Conv', 0, 52)(ls)), ['reads 52 channels where its weights take 48']),
    ('animevideov3', lambda ls: set_key('Conv_2', 6, 18432)(set_key('Conv_2', 0, 32)(ls)),
     ['PRelu_3', '64 slopes for 32 channels']),
    ('animevideov3', set_key('PRelu_1', 0, 32), ['PRelu_1', '32 slopes for 64 channels']),
    ('span', set_key('/upsampler/upsampler.1/DepthToSpace', 0, 3), ['reads 12 channels, which do not shuffle by 3']),
])
def test_inconsistent_widths_are_refused(tmp_path, capsys, key, edit, words):
    refused(capsys, hostile(tmp_path, key, edit), *words)


@pytest.mark.parametrize('key, layer, k, value, words', [
    ('span', '/conv_1/eval_conv/Conv', 0, '48.0', ['key 0 must be an integer', "'48.0'"]),
    ('animevideov3', 'Conv_2', 1, 0, ['key 1 = 0 is outside 1..15']),
    ('animevideov3', 'Conv_2', 1, 99, ['key 1 = 99 is outside 1..15']),
    ('animevideov3', 'PRelu_1', 0, 4.5, ['key 0 must be an integer']),
    ('animevideov3', 'PRelu_1', 0, -1, ['key 0 = -1 is outside 1..4096']),
    ('animevideov3', 'DepthToSpace_35', 0, -2, ['key 0 = -2 is outside 1..8']),
    ('animevideov3', 'DepthToSpace_35', 0, 1000, ['key 0 = 1000 is outside 1..8']),
    ('span', '/upsampler/upsampler.1/DepthToSpace', 0, 0, ['key 0 = 0 is outside 1..8']),
    ('animevideov3', 'Resize_37', 1, 'nan', ['key 1 must be a number']),
    ('animevideov3', 'Resize_37', 1, '1e999', ['key 1 must be a number']),
    ('animevideov3', 'Conv_2', 19, 1, ['key 19 is not one this importer reads']),
    ('animevideov3', 'Conv_2', 8, 1, ['int8']),
    ('animevideov3', 'Conv_2', 40, 1, ['key 40 is not an ncnn key']),
    ('upconv7', 'conv7_layer', 0, 1000000, ['conv7_layer', 'key 0 = 1000000 is outside 1..4096']),
    ('animevideov3-x2', 'Resize_40', 1, '0.3', ['Resize_40', 'resizes the x4 output by 0.3']),
])
def test_bad_values_are_refused(tmp_path, capsys, key, layer, k, value, words):
    """Each was accepted (a .pdparams the project cannot load, or a model of another size) or a traceback."""
    refused(capsys, hostile(tmp_path, key, set_key(layer, k, value)), layer, *words)


def test_a_shuffle_factor_the_pipeline_has_not_is_refused(tmp_path, capsys):
    """A x6 SPAN, consistent in its widths: refused as a scale no other tool takes."""
    edit = lambda ls: set_key('/upsampler/upsampler.1/DepthToSpace', 0, 6)(  # noqa: E731
        set_key('/upsampler/upsampler.0/Conv', 6, 108 * 48 * 9)(set_key('/upsampler/upsampler.0/Conv', 0, 108)(ls)))
    refused(capsys, hostile(tmp_path, 'span', edit), '/upsampler/upsampler.1/DepthToSpace', 'shuffles by 6')


def test_a_key_given_twice_is_refused(tmp_path, capsys):
    param = hostile(tmp_path, 'animevideov3', edit_layer('Conv_2', lambda t: t + ['0=64']))
    refused(capsys, param, 'Conv_2', 'key 0 is given twice')


@pytest.mark.parametrize('header, words', [('1000000000 41', ['second line', '1000000000']),
                                           ('\u00b20 41', ['second line']),  # a superscript two: a digit, no int
                                           ('41 41', ['header says 41 layers, found 40']),
                                           ('39 41', ["more layer lines than the header's 39"]),
                                           ('40 7', ['header says 7 blobs, the layers produce 41'])])
def test_a_header_that_lies_is_refused(tmp_path, capsys, header, words):
    param = hostile(tmp_path, 'animevideov3', lambda ls: ls[:1] + [header] + ls[2:], fix_header=False)
    refused(capsys, param, *words)


def test_non_finite_weights_are_refused(tmp_path, capsys):
    """A NaN (fp16 0x7E00) in the first convolution's kernel, right after its 4-byte tag."""
    param = hostile(tmp_path, 'animevideov3', lambda ls: ls,
                    weights=lambda data: data[:4] + b'\x00\x7e' + data[6:])
    refused(capsys, param, 'Conv_0', 'not finite')


def test_weights_larger_than_the_bin_are_refused_before_reading(tmp_path, capsys):
    """animevideov3 widened to 2048 features in every key (a consistent graph): its layers declare 1.2 GB of fp16
    weights, the .bin has 1.2 MB; refused from the sizes, before any array is read or allocated."""
    param = hostile(tmp_path, 'animevideov3', widen(2048))
    refused(capsys, param, 'ends early', 'need at least 1210118408 bytes', 'the file has 1247368')


def test_a_cut_bin_is_refused(tmp_path, capsys):
    param = hostile(tmp_path, 'animevideov3', lambda ls: ls, weights=lambda data: data[:len(data) // 2])
    refused(capsys, param, 'hostile.bin: ends early', 'need at least')


# ---------------------------------------------------------------- names from the file, printed

ESC = '\x1b[2J\x1b[31mOWNED\x1b[0m'


@pytest.mark.parametrize('edit', [
    lambda ls: set_key(ESC, 0, 1000)(edit_layer('DepthToSpace_35', lambda t: [t[0], ESC] + t[2:])(ls)),
    lambda ls: rename_blob('Conv_4', 0, ESC)(ls),
    lambda ls: edit_layer('PRelu_1', lambda t: [ESC] + t[1:])(ls),
])
def test_names_with_terminal_escapes_are_printed_escaped(tmp_path, capsys, edit):
    line = refused(capsys, hostile(tmp_path, 'animevideov3', edit), '\\x1b[2J\\x1b[31mOWNED')
    assert '\x1b' not in line and all(c.isprintable() for c in line)


def test_safe_name_escapes_control_characters_and_cuts_long_names():
    assert ncnn_bounds.safe_name('a\nb\tc\x00\x1b[m\u200bd') == 'a\\nb\\tc\\x00\\x1b[m\\u200bd'
    assert ncnn_bounds.safe_name('x' * 500) == 'x' * ncnn_bounds.MAX_NAME_SHOWN + '...'


# ---------------------------------------------------------------- what is not a regular file, and long lines

def test_a_fifo_bin_is_refused_without_blocking(tmp_path):
    """import_ncnn on a .bin that is a FIFO: refused at once (opening it for reading would wait for a writer)."""
    param, _ = real_files('animevideov3')
    fifo = tmp_path / 'f.bin'
    os.mkfifo(fifo)
    alarm = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError('blocked on the FIFO')))
    signal.alarm(60)  # a hang guard only
    try:
        with pytest.raises(NcnnFormatError, match='f.bin: not a regular file'):
            import_ncnn(param, fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, alarm)


@pytest.mark.parametrize('edit, words', [
    (lambda ls: ls[:2] + ['Input ' + 'n' * 300 + ' 0 1 data'] + ls[3:], ['longer than 256 characters']),
    (lambda ls: ls[:2] + ['Input in 0 1 data ' + ' '.join(['0=1'] * 2000)] + ls[3:], ['a line of 8017 characters']),
    (lambda ls: ls[:2] + ['Softmax in 0 1 data'] + ls[3:], ['Softmax', 'does not map']),
    (lambda ls: ls[:2] + ['Input in 0 99999999999 data'] + ls[3:], ['blob counts']),
])
def test_lines_that_are_not_layers_are_refused(tmp_path, capsys, edit, words):
    refused(capsys, hostile(tmp_path, 'animevideov3', edit, fix_header=False), *words)


def test_every_error_message_is_one_line_naming_the_file(tmp_path):
    """Straight from import_ncnn (no tool in between): each refusal above is a single line starting with a path."""
    cases = [rename_blob('PRelu_1', 0, '57'), set_key('DepthToSpace_35', 0, 1000), set_key('Resize_37', 0, 2),
             edit_layer('PRelu_1', lambda t: [ESC] + t[1:])]
    for i, edit in enumerate(cases):
        param = hostile(tmp_path, 'animevideov3', edit, name=f'h{i}')
        with pytest.raises(NcnnFormatError) as err:
            import_ncnn(param, param.with_suffix('.bin'))
        msg = str(err.value)
        assert msg.startswith(str(param)) and '\n' not in msg and '\x1b' not in msg, msg


# ---------------------------------------------------------------- fuzzing

FUZZ_VALUES = ['0', '1', '-1', '2', '3', '4', '8', '64', '-233', '0.5', '2.0', '48.0', 'x', '', '1,2', '2,1,1',
               '99999999999', '1e999', '-23310']


def _mutate(lines, rng):
    """One to three random edits of a .param's lines: a value, a key added, blob counts, a blob name, a line
    swapped, dropped or doubled; the header recounted seven times in ten."""
    lines = list(lines)
    for _ in range(rng.integers(1, 4)):
        i = int(rng.integers(1, len(lines)))
        tok, op = lines[i].split(), rng.random()
        if op < 0.5 and len(tok) > 4:
            j = int(rng.integers(4, len(tok)))
            key = tok[j].split('=')[0] if '=' in tok[j] else None
            tok[j] = f'{key}={rng.choice(FUZZ_VALUES)}' if key else str(rng.choice(tok[4:] + FUZZ_VALUES))
            if op < 0.1:
                tok.append(f'{rng.choice(["0", "1", "3", "4", "6", "9", "11", "-23309", "-23310"])}='
                           f'{rng.choice(FUZZ_VALUES)}')
        elif op < 0.6 and len(tok) > 3:
            tok[int(rng.integers(2, 4))] = str(rng.choice(FUZZ_VALUES))
        elif op < 0.9:
            j = int(rng.integers(2, len(lines)))
            lines[i], lines[j] = lines[j], lines[i]
            continue
        else:
            lines.insert(i, lines[i]) if op < 0.95 else lines.pop(i)
            continue
        lines[i] = ' '.join(tok)
    if rng.random() < 0.7:
        try:
            lines = recount(lines)
        except (ValueError, IndexError):
            pass
    return lines


@pytest.mark.parametrize('key', ['animevideov3', 'span', 'upconv7', 'cugan', 'cunet'])
def test_mutated_real_graphs_are_refused_in_one_line_or_import_the_real_model(tmp_path, key):
    """60 seeded mutations of each real graph: each is refused with one NcnnFormatError line naming the file, or
    (an edit that changes nothing the network computes: a shape hint, two independent lines swapped) imports
    exactly the real model. No other exception, no other model."""
    param, binf = real_files(key)
    ref = import_ncnn(param, binf)
    rng = np.random.default_rng(73)
    lines = param.read_text().splitlines()
    shutil.copyfile(binf, tmp_path / 'f.bin')
    outcomes = {'refused': 0, 'the real model': 0}
    for _ in range(60):
        (tmp_path / 'f.param').write_text('\n'.join(_mutate(lines, rng)) + '\n')
        try:
            state, arch, post = import_ncnn(tmp_path / 'f.param', tmp_path / 'f.bin')
        except NcnnFormatError as e:
            assert str(e).startswith(str(tmp_path / 'f.')) and '\n' not in str(e), str(e)
            outcomes['refused'] += 1
            continue
        assert (arch, post) == ref[1:] and state.keys() == ref[0].keys()
        assert all(np.array_equal(state[k], ref[0][k]) for k in state)
        outcomes['the real model'] += 1
    assert outcomes['refused'] > 30, outcomes
