"""SAFMN (Spatially-Adaptive Feature Modulation)."""
