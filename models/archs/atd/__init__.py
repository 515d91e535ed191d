"""ATD (Zhang et al., CVPR 2024): the Adaptive Token Dictionary transformer."""
