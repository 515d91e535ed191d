"""SPAN (Swift Parameter-free Attention Network) and its ncnn graph."""
