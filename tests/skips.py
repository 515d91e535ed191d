"""Skip reasons that say what enables the test."""
TORCH_SKIP = ('torch is not installed: it is the test-only reference; '
              'pip install -r requirements-torch.txt --index-url https://download.pytorch.org/whl/cpu')
FFMPEG_SKIP = 'no ffmpeg: pip install imageio-ffmpeg (in requirements.txt), or apt-get install ffmpeg'
FFPROBE_SKIP = 'no ffprobe: apt-get install ffmpeg (imageio-ffmpeg ships ffmpeg only)'
SAFETENSORS_SKIP = 'safetensors is not installed: pip install safetensors (paddlepaddle 3 brings it)'
