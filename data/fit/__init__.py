"""Real low-resolution footage: read (``lq_source``), measured (``lq_stats``, with ``evaluation.metrics``'s
blockiness), and a degradation fitted to it (``degradation_fit``: the search; ``footage``: the fit of a set of
videos behind tools/fit_degradation.py and the domain pipeline). A room of its own above ``evaluation``.
"""
