"""Swift-SRGAN (depthwise-separable SRGAN generator)."""
