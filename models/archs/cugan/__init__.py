"""Real-CUGAN, and the ncnn graphs of the U-Net family (Real-CUGAN, waifu2x UpConv7 and CUNet)."""
