"""SRVGGNetCompact (Real-ESRGAN's compact network, realesr-animevideov3 and realesr-general)."""
