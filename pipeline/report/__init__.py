"""Stage 7, the report: the page (``page.py``), its perception-distortion table and plot (``frontier.py``) and the
small document model rendered as Markdown and HTML (``doc.py``)."""
