"""The benchmarks' one ``sys.path`` edit, as ``tools/_bootstrap.py`` is the tools': ``python benchmarks/<name>.py``
in a clone starts with ``benchmarks/`` as ``sys.path[0]`` (so a benchmark imports its sibling helpers by name), and
the clone's root goes in front so that ``import realesrgan_paddle`` is the clone's package (docs/DESIGN.md, "One
package"). A benchmark imports it first: ``import _bootstrap  # noqa: F401``."""
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
