"""``realesrgan-paddle <command> [args]``: one command for the tools, each subcommand running the same parser and
``main`` as ``python tools/<script>.py`` (or ``train.py``) in a clone."""
import importlib
import sys

from .utils.cli_parser import name_next_parser

# subcommand -> (module under realesrgan_paddle, the clone's script, what it does)
COMMANDS = {
    'infer': ('tools.infer', 'tools/infer.py', 'upscale images, folders and videos with Paddle Inference'),
    'predict': ('tools.predict', 'tools/predict.py', 'the same with the Paddle dynamic graph'),
    'export': ('tools.export_model', 'tools/export_model.py', 'export weights to a static graph for infer'),
    'convert': ('tools.convert_torch', 'tools/convert_torch.py', 'convert official PyTorch weights'),
    'train': ('training.train_cli', 'train.py', 'train or finetune from an options file'),
    'finetune': ('tools.finetune_domain', 'tools/finetune_domain.py', 'finetune on your footage, one command'),
    'evaluate': ('tools.evaluate', 'tools/evaluate.py', 'compare models on distortion and perception'),
    'degrade': ('data.make_lq', 'make_lq_data.py', 'reproducible degraded copies of an HR folder'),
    'fit': ('tools.fit_degradation', 'tools/fit_degradation.py', 'fit the degradation to real low-quality footage'),
    'webui': ('tools.webui', 'tools/webui.py', 'the web app'),
    'download': ('tools.download_models', 'tools/download_models.py', 'download and convert zoo models'),
}
PROG = 'realesrgan-paddle'


def usage():
    width = max(map(len, COMMANDS))
    rows = '\n'.join(f'  {name:<{width}}  {what} ({script})' for name, (_, script, what) in COMMANDS.items())
    return (f'usage: {PROG} <command> [options]\n\ncommands (each takes --help):\n{rows}\n')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(usage(), end='')
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f'{PROG}: error: unknown command {name!r}; choose from {", ".join(COMMANDS)}', file=sys.stderr)
        return 2
    module = importlib.import_module(f'{__package__}.{COMMANDS[name][0]}')
    name_next_parser(f'{PROG} {name}')  # its usage says realesrgan-paddle <command>, not cli.py or <script>.py
    # sys.argv stays as typed: the tools re-execute it (utils.runtime_env.setup, python <this script> infer ...)
    status = module.main(rest)
    return status if isinstance(status, int) else 0


if __name__ == '__main__':
    sys.exit(main())
