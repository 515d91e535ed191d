"""A local web app: upscale images and videos with a before/after slider, compare models, open finetune reports.

    python tools/webui.py                       # http://127.0.0.1:7860
    python tools/webui.py --models-dir experiments --port 8080

Needs `pip install -r requirements-webui.txt`. It listens on 127.0.0.1 unless
--host says otherwise, and writes only to --output-dir.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.cli import (  # noqa: E402  (standard library only)
    ArgumentParser, RawHelpFormatter, add_output, fail, returns_status)


def build_parser():
    p = ArgumentParser(prog='webui.py', description=__doc__.split('\n\n')[0], formatter_class=RawHelpFormatter)
    p.add_argument('--host', default='127.0.0.1', help='address to listen on (default 127.0.0.1: this machine only)')
    p.add_argument('--port', type=int, default=7860, help='port (default 7860)')
    p.add_argument('--share', action='store_true', help='also open a public gradio.live link (off by default)')
    p.add_argument('--models-dir', '--models_dir', dest='models_dir', default=None,
                   help='folder searched for .pdparams, export folders and .onnx files to offer by name')
    p.add_argument('--runs-dir', '--runs_dir', dest='runs_dir', default='experiments',
                   help='folder searched for finetune report.html files (default experiments)')
    p.add_argument('-m', '--model', default=None, help='the model selected when the page opens (default: the first zoo model)')
    add_output(p, aliases=('--output-dir',), default='results/webui',
                   help='the only folder the app writes to (default results/webui)')
    return p


@returns_status
def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        fail('webui.py', 'the web app needs gradio: pip install -r requirements-webui.txt')
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'warning: listening on {args.host}: anyone who can reach this machine can use the app',
              file=sys.stderr)
    from utils import runtime_env
    runtime_env.setup()
    from webui.app import build
    demo, _ = build(args.output, args.models_dir, args.runs_dir, args.model)
    demo.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port, share=args.share,
                                                   allowed_paths=[str(Path(args.output).resolve())])
    return 0


if __name__ == '__main__':
    sys.exit(main())
