"""The web app's uploads: gradio's server refuses a file over ``--max-upload``, and deletes the uploads when the app
stops (tools/webui.py also removes its own OUTPUT/.gradio then). The real app, in this process, on a free port."""
import json
import socket
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytest.importorskip('gradio', reason='needs gradio: pip install -r requirements-webui.txt')


def _load_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('webui_tool', Path(__file__).resolve().parents[2] / 'tools' / 'webui.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _upload(url, data, name='a.png'):
    b = uuid.uuid4().hex
    body = (f'--{b}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            'Content-Type: image/png\r\n\r\n').encode() + data + f'\r\n--{b}--\r\n'.encode()
    req = urllib.request.Request(url + 'gradio_api/upload', body, {'Content-Type': f'multipart/form-data; boundary={b}'})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_upload_limit_and_cleanup_at_exit(tmp_path):
    from realesrgan_paddle.webui.app import UPLOAD_CACHE, build
    tool = _load_tool()
    args = tool.build_parser().parse_args(['--max-upload', '2K', '-o', str(tmp_path / 'out')])
    assert args.max_upload == '2kb' and tool.build_parser().parse_args([]).max_upload == '1gb'
    demo, _ = build(tmp_path / 'out')
    assert demo.delete_cache == UPLOAD_CACHE
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    demo.launch(server_name='127.0.0.1', server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=args.max_upload)
    try:
        status, text = _upload(demo.local_url, b'x' * 5000)
        assert status == 413 and '2048 bytes' in text, (status, text)
        status, text = _upload(demo.local_url, b'x' * 100)
        assert status == 200, text
        kept = Path(json.loads(text)[0])
        assert kept.is_file()
    finally:
        demo.close()
    assert not kept.exists()  # gradio deleted the upload when the server stopped


def test_own_upload_folder_removed_at_exit(tmp_path, monkeypatch):
    tool = _load_tool()
    own = tmp_path / 'out' / '.gradio'
    (own / 'abc').mkdir(parents=True)
    (own / 'abc' / 'up.png').write_bytes(b'x')
    monkeypatch.setenv('GRADIO_TEMP_DIR', str(tmp_path / 'mine'))
    tool.drop_uploads(tmp_path / 'out')  # the user's own GRADIO_TEMP_DIR: not the app's to remove
    assert own.is_dir()
    monkeypatch.setenv('GRADIO_TEMP_DIR', str(own))
    tool.drop_uploads(tmp_path / 'out')
    assert not own.exists() and (tmp_path / 'out').is_dir()
