"""DRCT (Dense-residual-connected Transformer)."""
