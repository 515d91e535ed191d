"""MoSR (MambaOut super-resolution)."""
