"""Every command-line tool: each option has help text and --help renders, a flag means the same thing in
every tool (-i/--input, -o/--output, --workers, --device, -q/--quiet), each older name of a flag is an
alias that parses to the same value as the canonical one, and a usage error is one line."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'tools').glob('[!_]*.py')) + ['train.py', 'make_lq_data.py']

# Runs each tool's main() up to its parse_args, then reports, as JSON (one process): the parser's options,
# whether --help renders, and what each declared spelling of an option parses to.
_DUMP = r'''
import argparse, json, runpy, sys
sys.path.insert(0, {root!r})
import realesrgan_paddle.utils.cli_parser as C

class Got(BaseException):
    pass

real_parse = C.ArgumentParser.parse_known_args

def grab(self, args=None, namespace=None):
    raise Got(self)

def parsed(parser, argv):
    """What argv parses to (the other options left at their defaults), or None if it does not parse."""
    saved = [(a, a.required) for a in parser._actions]
    for a, _ in saved:
        a.required = False
    try:
        ns, rest = real_parse(parser, argv)
        return None if rest else {{k: repr(v) for k, v in sorted(vars(ns).items())}}
    except SystemExit:
        return None
    finally:
        for a, r in saved:
            a.required = r

def spellings(parser, action):
    """{{flag: parsed namespace}} for every flag the tool declares for this option (not the automatic twins)."""
    declared = [s for s in action.option_strings if s not in getattr(action, 'auto_spellings', ())]
    if isinstance(action, (argparse._HelpAction, C.Unsupported)):
        return {{}}
    out = {{}}
    for s in declared:
        if action.nargs == 0:
            out[s] = parsed(parser, [s])
            continue
        values = [str(next(iter(action.choices)))] if action.choices else ['3', 'x', '1G']
        n = action.nargs if isinstance(action.nargs, int) else 1
        out[s] = next((r for r in (parsed(parser, [s] + [v] * n) for v in values) if r is not None), None)
    return out

C.ArgumentParser.parse_known_args = grab
out = {{}}
for tool in {tools!r}:
    sys.argv = [tool]
    out[tool] = None
    try:
        runpy.run_path(tool, run_name='__main__')
    except Got as g:
        parser = g.args[0]
        try:
            help_error = None
            parser.format_help()
        except Exception as e:
            help_error = f'{{type(e).__name__}}: {{e}}'
        out[tool] = dict(help_error=help_error, options=[
            dict(strings=a.option_strings, dest=a.dest, help=a.help or '', auto=list(getattr(a, 'auto_spellings', ())),
                 parsed=spellings(parser, a))
            for a in parser._actions if a.option_strings])
print(json.dumps(out))
'''

# One meaning a flag: the canonical flags and the option (dest) they set, in every tool.
CANONICAL = {'-i': 'input', '--input': 'input', '-o': 'output', '--output': 'output', '--workers': 'workers',
             '--device': 'device', '-q': 'quiet', '--quiet': 'quiet'}
# BasicSR's and PaddleOCR's habit, kept on purpose (docs/cli.md): -o is an option override in these two.
OVERRIDE_TOOLS = {'train.py', 'tools/finetune_domain.py'}
# Where the option keeps another name inside the tool (the pipeline builds fit_degradation's namespace itself).
DESTS = {('tools/fit_degradation.py', '-o'): 'out', ('tools/fit_degradation.py', '--output'): 'out'}
# The older names: each must be an alias on the same option as its canonical flag, never a flag of its own.
ALIASES = {'--n_thread': '--workers', '--save-inference-dir': '--output', '--out': '--output',
           '--output-dir': '--output', '--meta_info': '--output'}


@pytest.fixture(scope='module')
def parsers():
    code = _DUMP.format(root=str(ROOT), tools=TOOLS)
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('tool', TOOLS)
def test_every_option_has_help_and_help_renders(parsers, tool):
    got = parsers[tool]
    assert got, f'{tool} does not build its parser with utils.cli_parser.ArgumentParser'
    assert got['help_error'] is None, f'{tool} --help fails: {got["help_error"]}'
    for o in got['options']:
        assert o['help'].strip(), f'{tool}: {o["strings"]} has no help text'
        assert not re.search(r'\b(sessions?|issues?|targets?)\b', o['help'], re.I), (tool, o['help'])


@pytest.mark.parametrize('tool', TOOLS)
def test_a_flag_means_the_same_in_every_tool(parsers, tool):
    for o in parsers[tool]['options']:
        for s in o['strings']:
            if s == '-o' and tool in OVERRIDE_TOOLS:
                assert o['dest'] == 'override', (tool, o)
            elif s in CANONICAL:
                assert o['dest'] == DESTS.get((tool, s), CANONICAL[s]), f'{tool}: {s} sets {o["dest"]}'
        if o['dest'] in ('input', 'output') and not (tool in OVERRIDE_TOOLS and o['dest'] == 'output'):
            short = '-' + o['dest'][0]
            assert {short, '--' + o['dest']} <= set(o['strings']), f'{tool}: {o["strings"]} without {short}'
        for old, canonical in ALIASES.items():
            if old in o['strings']:
                assert canonical in o['strings'], f'{tool}: {old} is not an alias of {canonical}'
    flags = {s for o in parsers[tool]['options'] for s in o['strings']}
    if flags & {'--quiet', '--no-progress', '--no_progress'}:
        assert {'-q', '--quiet', '--no-progress', '--no_progress'} <= flags, tool


@pytest.mark.parametrize('tool', TOOLS)
def test_every_spelling_of_an_option_parses_the_same(parsers, tool):
    """-o X and --save-inference-dir X, --workers 3 and --n_thread 3...: the same namespace."""
    for o in parsers[tool]['options']:
        results = list(o['parsed'].items())
        for flag, ns in results:
            assert ns is not None, f'{tool}: {flag} does not parse on its own'
            assert ns == results[0][1], f'{tool}: {flag} and {results[0][0]} parse differently'


def test_the_old_names_are_still_there(parsers):
    """The aliases this project promises (docs/cli.md): each still parses, to the canonical option."""
    promised = {'tools/export_model.py': '--save-inference-dir', 'tools/extract_subimages.py': '--n_thread',
                'tools/generate_multiscale.py': '--n_thread', 'tools/fit_degradation.py': '--out',
                'tools/webui.py': '--output-dir', 'tools/generate_meta_info.py': '--meta_info'}
    for tool, old in promised.items():
        opt = next(o for o in parsers[tool]['options'] if old in o['strings'])
        canonical = ALIASES[old]
        assert opt['parsed'][old] is not None and opt['parsed'][old] == opt['parsed'][canonical], (tool, old)


def test_inference_official_flags():
    from realesrgan_paddle.inference.upscale_cli import build_parser
    p = build_parser('infer.py', '', 'model')
    a = p.parse_args(['-i', 'x', '-g', '1', '--alpha_upsampler', 'realesrgan', '-s', '3.5', '--denoise-strength', '0.3'])
    assert (a.device, a.fp16, a.alpha_upsampler, a.outscale, a.denoise_strength) == ('gpu:1', True, 'model', 3.5, 0.3)
    a = p.parse_args(['-i', 'x', '--gpu-id', '0', '--fp32', '--alpha-upsampler', 'bicubic', '--tile-pad', '4'])
    assert (a.device, a.fp16, a.alpha_upsampler, a.tile_pad) == ('gpu:0', False, 'resize', 4)
    a = p.parse_args(['-i', 'x', '--no-progress'])
    assert (a.device, a.fp16, a.quiet) == ('cpu', False, True)  # half precision only ever on a GPU
    assert (a.tile, a.max_memory) == ('auto', None)  # tiles sized by the default 2 GiB budget
    a = p.parse_args(['-i', 'x', '-t', '0', '--max-memory', '1.5G'])
    assert (a.tile, a.max_memory) == (0, 3 << 29)  # 0: no tiling, as the official tool
    assert p.parse_args(['-i', 'x', '--tile', 'AUTO', '--max_memory', 'free']).max_memory == 'free'


@pytest.mark.parametrize('argv, words', [
    (['--face_enhance'], '--face_enhance is not supported: face restoration (GFPGAN)'),
    (['--face-enhance'], '--face-enhance is not supported'),
    (['--fp16', '--fp32'], '--fp16 and --fp32 contradict each other'),
    (['-g', '1', '--device', 'cpu'], '-g/--gpu-id 1 contradicts --device cpu'),
    (['--tile', 'big'], "argument -t/--tile: expected auto or a whole number >= 0 (0 = no tiling), got 'big'"),
    (['--tile', '-3'], "argument -t/--tile: expected auto"),
    (['--max-memory', 'lots'], "--max-memory: 'lots' is not a memory size (examples: 2G, 1500M"),
    (['--max_memory', '10M'], "--max-memory: '10M' is too small: give at least 64M"),
])
def test_inference_usage_errors_are_one_line(argv, words):
    res = subprocess.run([sys.executable, 'tools/infer.py', '-i', 'x.png', *argv], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.count('\n') == 1 and words in res.stderr, res.stderr


# tools whose bars come from the library they call rather than from their own file
BARS_ELSEWHERE = {'tools/evaluate.py', 'tools/infer.py', 'tools/predict.py', 'tools/extract_keyframes.py',
                  'tools/finetune_domain.py', 'tools/distill_base.py', 'tools/download_models.py'}


@pytest.mark.parametrize('tool', TOOLS)
def test_a_tool_that_draws_progress_bars_takes_quiet(parsers, tool):
    """docs/cli.md: -q/--quiet in every tool that draws progress bars (a tqdm bar or the image pool's)."""
    src = (ROOT / tool).read_text(encoding='utf-8')
    if tool in BARS_ELSEWHERE or re.search(r'\btqdm\(|\brun_pool\(', src):
        flags = {s for o in parsers[tool]['options'] for s in o['strings']}
        assert '-q' in flags and '--quiet' in flags, f'{tool} draws progress bars without -q'
