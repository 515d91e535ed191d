#!/usr/bin/env bash
# A new user's machine: a venv with requirements.txt alone (no test requirements, no scikit-image, no torch),
# optionally without system ffmpeg/ffprobe on PATH (the caller passes that PATH). Runs the one command on a
# tiny clip and on photo folders with a tiny recipe, tools/evaluate.py on its held-out frames, and the Python API from a folder
# with its own utils.py. Usage: bash .ci/fresh_venv.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
# The venv is kept between runs, keyed by the hash of requirements.txt (a new file makes a new venv).
key="$(sha256sum requirements.txt | cut -c1-12)"
venv="${RESR_CI_VENV_ROOT:-$HOME/.cache/realesrgan-paddle/ci-venv}/$key"
if [ ! -f "$venv/.complete" ]; then
  echo "[fresh-venv] venv with requirements.txt alone in $venv"
  rm -rf "$venv" && python -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
  touch "$venv/.complete"
else
  echo "[fresh-venv] reusing $venv (requirements.txt alone)"
fi
py="$venv/bin/python"
"$py" - "$work" <<'PY'
import subprocess, sys
from pathlib import Path
import cv2, numpy as np, paddle
sys.path.insert(0, '.')
from realesrgan_paddle import models
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.media.ffmpeg import ffmpeg_exe
work = Path(sys.argv[1])
for mod in ('skimage', 'torch', 'pytest'):
    try:
        __import__(mod)
        sys.exit(f'[fresh-venv] {mod} is importable: this venv is not requirements.txt alone')
    except ImportError:
        pass
(work / 'clips').mkdir(exist_ok=True)
src = cv2.resize(cv2.imread('assets/example_lq.png'), (960, 720), interpolation=cv2.INTER_CUBIC)
frames = [src[8 * i:8 * i + 240, 12 * i:12 * i + 320] for i in range(40)]  # 4 s pan at 10 fps
subprocess.run([ffmpeg_exe(), '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'bgr24', '-s', '320x240', '-r', '10',
                '-i', '-', '-c:v', 'mpeg4', '-q:v', '2', str(work / 'clips' / 'pan.mp4')],
               input=np.stack(frames).tobytes(), check=True, timeout=120)
arch = {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_conv': 2, 'upscale': 4,
        'act_type': 'prelu'}
paddle.seed(0)
net = models.build_network(arch)
# photos: 12 crops of 160x160 of the example photo enlarged, and their LQ photos of the same names (area x4, JPEG)
for sub in ('hr', 'lq'):
    (work / 'photos' / sub).mkdir(parents=True, exist_ok=True)
big = cv2.resize(cv2.imread('assets/example_lq.png'), (1280, 960), interpolation=cv2.INTER_CUBIC)
for k in range(12):
    hr = big[(k // 4) * 300:(k // 4) * 300 + 160, (k % 4) * 300:(k % 4) * 300 + 160]
    cv2.imwrite(str(work / 'photos' / 'hr' / f'p{k:02d}.png'), hr)
    lq = cv2.imdecode(cv2.imencode('.jpg', cv2.resize(hr, (40, 40), interpolation=cv2.INTER_AREA),
                                   [cv2.IMWRITE_JPEG_QUALITY, 75])[1], cv2.IMREAD_COLOR)
    cv2.imwrite(str(work / 'photos' / 'lq' / f'p{k:02d}.png'), lq)
save_checkpoint(work / 'tiny_base.pdparams', params={k: v.numpy() for k, v in net.state_dict().items()}, arch=arch)
PY
echo "[fresh-venv] the README's first command, in a fresh model cache"
(cd "$work" && mkdir -p readme && cd readme && ln -sfn "$repo/tools" tools && ln -sfn "$repo/assets" assets \
  && REALESRGAN_PADDLE_HOME="$work/cache" "$py" tools/infer.py --input assets/example_lq.png --output results/ \
  && test -s results/example_lq_out.png)

echo "[fresh-venv] the one command (tiny recipe)"
"$py" tools/finetune_domain.py --videos "$work/clips" --work "$work/run" --base "$work/tiny_base.pdparams" \
  --iters 8 -o gt_size=32 -o datasets.train.crop_pad_size=64 -o queue_size=4 --gap 0.5 -q \
  --force-export  # a tiny base trained 8 iterations loses to bicubic: the export gate would refuse it
echo "[fresh-venv] the one command on photo folders (HR photos and their LQ photos: real pairs)"
"$py" tools/finetune_domain.py --hr "$work/photos/hr" --lq "$work/photos/lq" --work "$work/prun" \
  --base "$work/tiny_base.pdparams" --iters 4 -o gt_size=32 -o datasets.train.crop_pad_size=64 -o queue_size=4 \
  --min-size 64 --fit-frames 3 -q --force-export
test -s "$work/prun/report.md" && test -s "$work/prun/export/inference.pdmodel"
gt="$work/run/split/val_hr"
lq="$work/run/degrade/val_lq"
echo "[fresh-venv] tools/evaluate.py on $gt"
"$py" tools/evaluate.py --gt "$gt" --lq "$lq" --models bicubic=bicubic base="$work/tiny_base.pdparams" \
  mine="$work/run/export" --no-iqa --csv "$work/metrics.csv"
test -s "$work/metrics.csv"
echo "[fresh-venv] the Python API from a folder with its own utils.py"
mkdir -p "$work/user" && echo 'MINE = 1' > "$work/user/utils.py"
(cd "$work/user" && "$py" -c "
import sys; sys.path.append('$repo')
import utils, cv2
from realesrgan_paddle import Upscaler
out = Upscaler('$work/tiny_base.pdparams').upscale(cv2.imread('$repo/assets/example_lq.png'))
assert utils.MINE == 1 and out.ndim == 3, out.shape
print('[fresh-venv] API ok:', out.shape)")
echo "[fresh-venv] passed"
