"""DCTLSA (Densely Connected Transformer with Linear Self-Attention)."""
