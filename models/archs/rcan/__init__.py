"""RCAN (Residual Channel Attention Network)."""
