"""DAT (Dual Aggregation Transformer)."""
