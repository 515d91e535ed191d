"""The one ``sys.path`` edit of the project: ``python tools/<name>.py`` in a clone starts with ``tools/`` as
``sys.path[0]``, so the clone's root goes in front and ``import realesrgan_paddle`` is the clone's package
(docs/DESIGN.md, "One package"). Imported only when a tool runs as a script (``if not __package__``); installed,
the tools are ``realesrgan_paddle.tools.<name>`` and the ``realesrgan-paddle`` command runs them."""
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
