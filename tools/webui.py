"""A local web app: upscale images and videos with a before/after slider, compare models, open finetune reports.

    python tools/webui.py                       # http://127.0.0.1:7860
    python tools/webui.py --models-dir experiments --port 8080

Needs `pip install -r requirements-webui.txt`. It listens on 127.0.0.1 unless
--host says otherwise, and writes only to --output-dir.
"""
import errno
import os
import re
import shutil
import socket
import sys
from argparse import ArgumentTypeError
from pathlib import Path

if not __package__:  # python tools/<name>.py in a clone: the clone first on sys.path (tools/_bootstrap.py)
    try:
        import _bootstrap  # noqa: F401
    except ImportError:  # loaded by its path (runpy, importlib) with the package importable already
        pass

from realesrgan_paddle.utils import runtime_env  # noqa: E402
from realesrgan_paddle.utils.cli_parser import (  # noqa: E402  (standard library only)
    ArgumentParser, RawHelpFormatter, add_output, fail, int_in, returns_status)
from realesrgan_paddle.utils.outputs import OutputClash, check_writable  # noqa: E402


def build_parser():
    p = ArgumentParser(prog='webui.py', description=__doc__.split('\n\n')[0], formatter_class=RawHelpFormatter)
    p.add_argument('--host', default='127.0.0.1', help='address to listen on (default 127.0.0.1: this machine only)')
    p.add_argument('--port', type=int_in(1, 65535), default=7860, help='port (default 7860)')
    p.add_argument('--share', action='store_true', help='also open a public gradio.live link (off by default)')
    p.add_argument('--models-dir', '--models_dir', dest='models_dir', default=None,
                   help='folder searched for .pdparams, export folders and .onnx files to offer by name')
    p.add_argument('--runs-dir', '--runs_dir', dest='runs_dir', action='append', default=None, metavar='DIR',
                   help='folder searched for finetune report.html files; repeat it for several (default: experiments\n'
                        'and runs, where train.py and `finetune_domain.py --work runs/...` write)')
    p.add_argument('--max-upload', '--max_upload', dest='max_upload', type=upload_size, default='1G', metavar='SIZE',
                   help='the largest file the page accepts: 1G (default), 300M, ... (uploads and copies older\n'
                        'than an hour are deleted, and all of them when the app stops)')
    p.add_argument('-m', '--model', default=None, help='the model selected when the page opens (default: the first zoo model)')
    add_output(p, aliases=('--output-dir',), default='results/webui',
                   help='the only folder the app writes to (default results/webui)')
    return p


def upload_size(text):
    """An argparse ``type``: ``300M``, ``1G``, ``500K`` or bytes -> gradio's ``max_file_size`` string."""
    m = re.fullmatch(r'(\d+)\s*([kmg]?)i?b?', str(text).strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ArgumentTypeError(f'expected a size such as 300M or 1G, got {text!r}')
    return f'{m.group(1)}{m.group(2) + "b" if m.group(2) else "b"}'


def keep_uploads_in(output):
    """Gradio copies uploads and served files into ``GRADIO_TEMP_DIR`` (``/tmp/gradio`` when unset), read
    when gradio is imported: unless the user set it, it becomes ``OUTPUT/.gradio``, so the app's files stay
    in its one output folder."""
    if not os.environ.get('GRADIO_TEMP_DIR'):
        os.environ['GRADIO_TEMP_DIR'] = str(Path(output).resolve() / '.gradio')
    return os.environ['GRADIO_TEMP_DIR']


@returns_status
def main(argv=None):
    args = build_parser().parse_args(argv)
    keep_uploads_in(args.output)
    problem = cannot_listen(args.host, args.port)
    if problem:  # before the slow imports and the models
        fail('webui.py', problem)
    try:
        check_writable(Path(args.output).expanduser())  # a file, a read-only place: one line, before gradio
    except OutputClash as e:
        fail('webui.py', e)
    try:
        import gradio  # noqa: F401
    except ImportError:
        fail('webui.py', 'the web app needs gradio: pip install -r requirements-webui.txt')
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'warning: listening on {args.host}: anyone who can reach this machine can use the app',
              file=sys.stderr)
    runtime_env.setup()
    runtime_env.import_paddle_quietly()  # here, on the main thread: a request's thread cannot set SIGTERM back
    from realesrgan_paddle.webui.app import build
    from realesrgan_paddle.webui.handlers import RUNS_DIRS
    demo, _ = build(args.output, args.models_dir, args.runs_dir or RUNS_DIRS, args.model)
    try:
        serve(demo, args)
    finally:
        drop_uploads(args.output)
    return 0


def drop_uploads(output):
    """At exit: delete gradio's upload folder when it is the app's own (``OUTPUT/.gradio``), not one the
    user named with GRADIO_TEMP_DIR (gradio itself deletes the files it made there)."""
    own = Path(output).resolve() / '.gradio'
    if Path(os.environ.get('GRADIO_TEMP_DIR', '')).resolve() == own:
        shutil.rmtree(own, ignore_errors=True)


def cannot_listen(host, port):
    """Why the server could not listen on ``host``:``port`` (one line), or None when it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f'--host {host}: not an address or a name this machine can resolve'
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return f'port {port} on {host} is in use (another web app?); give another --port'
            if e.errno == errno.EADDRNOTAVAIL:
                return f'--host {host} is not an address of this machine; give another --host (127.0.0.1 by default)'
            if e.errno == errno.EACCES:
                return f'port {port} needs administrator rights; give a port from 1024 up'
            return f'cannot listen on {host} port {port}: {e.strerror}'
    return None


def serve(demo, args):
    """Start the server and block until Ctrl+C. Without --share, gradio's own banner (which suggests
    ``share=True`` in ``launch()``, a call the user never wrote) is replaced by one line with the address."""
    app = demo.queue(default_concurrency_limit=1)
    try:
        app.launch(server_name=args.host, server_port=args.port, share=args.share, quiet=not args.share,
                   prevent_thread_lock=True, allowed_paths=[str(Path(args.output).resolve())],
                   max_file_size=args.max_upload)
    except OSError:  # taken between the check and the launch
        fail('webui.py', f'cannot listen on {args.host} port {args.port}; give another --port', 1)
    if not args.share:
        print(f'webui: open {app.local_url} in a browser (Ctrl+C stops; --share adds a public link)',
              file=sys.stderr, flush=True)
    app.block_thread()


if __name__ == '__main__':
    sys.exit(main())
