"""waifu2x UpConv7 and CUNet."""
