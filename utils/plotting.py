"""The one place matplotlib is loaded: ``pyplot()`` gives ``matplotlib.pyplot`` on the Agg backend (files only, no
display), loaded at the first plot, not with the module that draws it (matplotlib takes over a second to load;
docs/DESIGN.md, "Imports")."""


def pyplot():
    """``matplotlib.pyplot``, its backend Agg."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt
