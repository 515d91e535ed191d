"""Training for the one command: the recipe (``recipes.py``), ``train.py`` run in a subprocess (``run.py``) and the
fidelity knob's partner (``partner.py``)."""
