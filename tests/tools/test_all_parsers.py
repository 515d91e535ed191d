"""Every command-line tool: each option has help text, each long flag is accepted in both the -
and the _ spelling, progress switches are the same everywhere, and a usage error is one line."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'tools').glob('*.py')) + ['train.py', 'make_lq_data.py']

# Runs each tool's main() up to its parse_args, then reports the parser's options as JSON (one process).
_DUMP = r'''
import json, runpy, sys
sys.path.insert(0, {root!r})
import utils.cli as C

class Got(BaseException):
    pass

def grab(self, args=None, namespace=None):
    raise Got(self)

C.ArgumentParser.parse_known_args = grab
out = {{}}
for tool in {tools!r}:
    sys.argv = [tool]
    out[tool] = None
    try:
        runpy.run_path(tool, run_name='__main__')
    except Got as g:
        out[tool] = [dict(strings=a.option_strings, help=a.help or '') for a in g.args[0]._actions if a.option_strings]
print(json.dumps(out))
'''


@pytest.fixture(scope='module')
def parsers():
    code = _DUMP.format(root=str(ROOT), tools=TOOLS)
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('tool', TOOLS)
def test_every_option_has_help_and_both_spellings(parsers, tool):
    opts = parsers[tool]
    assert opts, f'{tool} does not build its parser with utils.cli.ArgumentParser'
    for o in opts:
        assert o['help'].strip(), f'{tool}: {o["strings"]} has no help text'
        assert not re.search(r'\b(sessions?|issues?|targets?)\b', o['help'], re.I), (tool, o['help'])
        for s in o['strings']:
            if s.startswith('--') and ('-' in s[2:] or '_' in s[2:]):
                twin = '--' + (s[2:].replace('_', '-') if '_' in s[2:] else s[2:].replace('-', '_'))
                assert any(twin in p['strings'] for p in opts), f'{tool}: {s} without {twin}'
    flags = {s for o in opts for s in o['strings']}
    if flags & {'--quiet', '--no-progress', '--no_progress'}:
        assert {'-q', '--quiet', '--no-progress', '--no_progress'} <= flags, tool


def test_inference_official_flags():
    from inference.cli import build_parser
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
