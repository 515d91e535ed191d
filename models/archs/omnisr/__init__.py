"""OmniSR (Omni Self-Attention)."""
