"""RRDBNet (ESRGAN, Real-ESRGAN x4plus) and LowBandRRDBNet, a frozen RRDBNet with a trained low-band corrector."""
