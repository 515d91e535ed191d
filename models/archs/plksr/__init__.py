"""PLKSR and RealPLKSR, and RealPLKSR's DySample upsampler."""
