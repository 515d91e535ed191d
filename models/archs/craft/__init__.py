"""CRAFT (Cross-Refinement Adaptive Fusion Transformer)."""
