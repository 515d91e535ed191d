"""LPIPS and DISTS of every x4 zoo model on the public real pairs (RealSR 100, DRealSR 93), beside PSNR/SSIM.

    python benchmarks/zoo_iqa.py --data osediff/preset/datasets --work zoo_iqa            # infer, then score
    python benchmarks/zoo_iqa.py --data ... --work zoo_iqa --stage infer                  # outputs only
    python benchmarks/zoo_iqa.py --data ... --work zoo_iqa --stage score --sets realsr

``--data`` holds the folders as the public ``cswry/OSEDiff`` repository ships them (``benchmark_realsr``,
``benchmark_drealsr``: ``test_LR``, ``test_HR``, OSEDiff's outputs ``results_osediff``). Each model runs once per
image through ``tools/infer.py`` (fp32, whole image, no tiling) into ``<work>/<set>/<model>/``; a folder that holds
every output already is not run again, so an interrupted run resumes. Then each output folder (with bicubic,
OpenCV's as ``tools/evaluate.py``'s, and OSEDiff's shipped outputs) is scored on whole images, as OSEDiff's pyiqa
script scores them: LPIPS (AlexNet, the field's standard) and DISTS, each GT's features computed once. PSNR/SSIM
of the same folders: ``tools/evaluate.py --crop-border 0 --models NAME=outputs:DIR`` (docs/benchmarks.md). The
weights must be in the cache (``python tools/download_models.py --names vgg16 alexnet lpips dists``).
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
import _bootstrap  # noqa: F401,E402  (the clone first on sys.path: benchmarks/_bootstrap.py)
SETS = {'realsr': 'benchmark_realsr', 'drealsr': 'benchmark_drealsr'}
MODELS = ('realesrgan-x4plus', 'realesr-animevideov3', 'spanx4_ch48', 'ClearReality4x', '4xSPANkendata',
          'RealSR_DF2K_x4', 'DAT_light_x4', 'realcugan-se-x4', 'RealESRGAN_x4plus_anime_6B', 'spanx4_ch52')


def infer(model, lq, out, count):
    """Run ``tools/infer.py`` on the LQ folder unless ``out`` holds every output already."""
    if out.is_dir() and len(list(out.glob('*.png'))) >= count:
        return
    cmd = [sys.executable, str(ROOT / 'tools' / 'infer.py'), '-i', str(lq), '-o', str(out), '-n', model,
           '--fp32', '-t', '0', '--suffix', '', '-q']
    print('$', ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def done_records(work, name):
    """``{(model, image): {'lpips', 'dists'}}`` of every part file written so far (a rerun resumes)."""
    out = {}
    for f in sorted(work.glob(f'{name}_iqa_*.jsonl')):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            out[r['model'], r['image']] = {'lpips': r['lpips'], 'dists': r['dists']}
    return out


def score(folder, work, models, name, baselines=True, part=(0, 1)):
    """LPIPS (alex) and DISTS of bicubic, OSEDiff's outputs and every model's folder on the whole images (as
    pyiqa, OSEDiff's scorer), each GT's features once, for the images of ``part`` (k, n): every n-th from the k-th.
    One JSON line per (model, image) in ``<work>/<set>_iqa_<k>of<n>.jsonl``; pairs already there are skipped."""
    import cv2
    import paddle
    from realesrgan_paddle.media.image_io import image_to_chw, imread
    from realesrgan_paddle.models.feature_nets import iqa_nets
    nets = {'lpips': iqa_nets.load_lpips('alex'), 'dists': iqa_nets.load_dists()}
    dirs = {'bicubic': None, 'osediff': folder / 'results_osediff'} if baselines else {}
    dirs.update({m: work / name / m for m in models})
    gts = sorted((folder / 'test_HR').glob('*.png'))
    for k, d in list(dirs.items()):
        if d is not None and not all((d / g.name).is_file() for g in gts):
            print(f'{name}: {k} left out: {d} does not hold every output', flush=True)
            del dirs[k]
    done, mine = done_records(work, name), gts[part[0]::part[1]]
    with open(work / f'{name}_iqa_{part[0]}of{part[1]}.jsonl', 'a') as log:
        for i, gp in enumerate(mine):
            todo = {k: d for k, d in dirs.items() if (k, gp.name) not in done}
            if not todo:
                continue
            gt, lq = imread(gp), imread(folder / 'test_LR' / gp.name)
            with paddle.no_grad():
                ref = {m: net.feats(paddle.to_tensor(image_to_chw(gt)[None])) for m, net in nets.items()}
                for label, d in todo.items():
                    out = cv2.resize(lq, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_CUBIC) if d is None \
                        else imread(d / gp.name)
                    x = paddle.to_tensor(image_to_chw(out)[None])
                    row = {m: float(net.distance(net.feats(x), ref[m]).numpy()[0]) for m, net in nets.items()}
                    log.write(json.dumps({'model': label, 'image': gp.name, **row}) + '\n')
                    log.flush()
            print(f'{name}: {i + 1}/{len(mine)} {gp.name}', flush=True)


def table(folder, work, name):
    """The means of every model whose every image is scored (the part files together)."""
    gts = [g.name for g in sorted((folder / 'test_HR').glob('*.png'))]
    done = done_records(work, name)
    print(f'\n{name} ({len(gts)} pairs)\n| model | LPIPS | DISTS |\n|---|---|---|')
    for model in dict.fromkeys(m for m, _ in done):
        rows = [done[model, g] for g in gts if (model, g) in done]
        if len(rows) < len(gts):
            print(f'| {model} | ({len(rows)} of {len(gts)} scored) | |')
            continue
        print(f'| {model} | {sum(r["lpips"] for r in rows) / len(rows):.4f} | '
              f'{sum(r["dists"] for r in rows) / len(rows):.4f} |')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--data', required=True, help='folder holding benchmark_realsr and benchmark_drealsr')
    ap.add_argument('--work', required=True, help='output folders and the JSON reports go here')
    ap.add_argument('--sets', nargs='+', choices=sorted(SETS), default=['drealsr', 'realsr'])
    ap.add_argument('--models', nargs='+', default=list(MODELS))
    ap.add_argument('--stage', choices=('all', 'infer', 'score', 'table'), default='all')
    ap.add_argument('--no-baselines', action='store_true', help='score the models only (not bicubic, OSEDiff)')
    ap.add_argument('--part', default='0/1', help='K/N: score every N-th image from the K-th (run N at once)')
    args = ap.parse_args()
    data, work = Path(args.data), Path(args.work)
    for name in args.sets:
        folder = data / SETS[name]
        count = len(list((folder / 'test_LR').glob('*.png')))
        if args.stage in ('all', 'infer'):
            for model in args.models:
                infer(model, folder / 'test_LR', work / name / model, count)
        if args.stage in ('all', 'score'):
            score(folder, work, args.models, name, not args.no_baselines, tuple(map(int, args.part.split('/'))))
        if args.stage in ('all', 'score', 'table'):
            table(folder, work, name)


if __name__ == '__main__':
    main()
