"""Feature networks and discriminators: VGG, the LPIPS/DISTS networks, EfficientNet-Lite0, and the U-Net, patch and
projected discriminators."""
