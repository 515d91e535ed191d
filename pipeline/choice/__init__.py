"""Which point is exported: the checkpoint choice (``select.py``), the rule on both axes with the frames' noise
(``winner.py``), the DNI sweep of the fidelity knob (``dni_sweep.py``) and the verdicts against bicubic and the
compared models (``vs_bicubic.py``)."""
