"""One folder per architecture family: its network, its ``ArchSpec`` and its ncnn graph where it has one. A family
is registered by one line of ``models/__init__.py`` (docs/DESIGN.md, "Where new things go")."""
