"""The local web app (tools/webui.py): ``handlers`` (no gradio) and ``app`` (the gradio page)."""
