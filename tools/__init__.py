"""The command-line tools: ``python tools/<name>.py`` in a clone, ``realesrgan-paddle <command>`` installed
(``realesrgan_paddle/command.py``)."""
