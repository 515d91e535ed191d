"""One list of video and image extensions: ``media/kinds.py`` (``VIDEO_EXTS``, ``IMAGE_EXTS``). No other file of the
product or the benchmarks spells three or more of them in one literal (a tuple, list or set of strings, or one string
such as ``'*.mp4 *.mkv *.avi'``), so a format added there is one every tool and the web app take (issue 72). Read with
ast."""
import ast
import re

from realesrgan_paddle.media.kinds import IMAGE_EXTS, VIDEO_EXTS
from tests.product_tree import ROOT, product_files

HOME = 'media/kinds.py'
SUFFIX = re.compile(r'\.?\*?\.?([A-Za-z0-9]+)$')


def _suffixes(texts, exts):
    found = set()
    for text in texts:
        for word in re.split(r'[\s,;|]+', text):
            m = SUFFIX.fullmatch(word) if word.startswith(('.', '*')) else None
            if m and '.' + m.group(1).lower() in exts:
                found.add('.' + m.group(1).lower())
    return found


def extension_lists(source, least=3):
    """``['line: kind .a .b .c', ...]``: the literals of ``source`` spelling ``least`` or more video (or image)
    extensions (a string counts only when it starts with a dot or ``*.``: ``'.mp4'``, ``'*.mkv'``)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            texts = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts = [node.value]
        else:
            continue
        for kind, exts in (('video', VIDEO_EXTS), ('image', IMAGE_EXTS)):
            found = _suffixes(texts, exts)
            if len(found) >= least:
                out.append(f'{node.lineno}: {kind} {" ".join(sorted(found))}')
    return sorted(set(out), key=lambda s: int(s.split(':')[0]))


def test_no_file_keeps_its_own_extension_list():
    found = []
    for p in product_files() + sorted((ROOT / 'benchmarks').glob('*.py')):
        rel = p.relative_to(ROOT).as_posix()
        if rel != HOME:
            found += [f'{rel}:{hit}' for hit in extension_lists(p.read_text(encoding='utf-8'))]
    assert found == [], 'use media.kinds (VIDEO_EXTS, IMAGE_EXTS, is_video, is_image) instead: ' + '; '.join(found)


def test_the_check_sees_a_list_and_a_pattern():
    src = ("A = ('.mp4', '.mkv', '.avi')\nB = {'.MOV', '.webm', '.ts', 'x'}\nC = '*.mp4 *.mkv *.mov'\n"
           "D = ['.png', '.jpg', '.tif']\nE = ('.mp4', '.mkv')\nF = 'mp4 mkv avi: the names'\n"
           "G = ['-f', 'mp4', '-c', 'mkv', 'avi']\n")
    assert extension_lists(src) == ['1: video .avi .mkv .mp4', '2: video .mov .ts .webm', '3: video .mkv .mov .mp4',
                                    '4: image .jpg .png .tif']
    assert extension_lists((ROOT / HOME).read_text(encoding='utf-8'))  # the home itself is seen, and exempt
