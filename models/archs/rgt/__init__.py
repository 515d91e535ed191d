"""RGT (Recursive Generalization Transformer)."""
