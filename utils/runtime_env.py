"""CPU runtime settings that must be in place before paddle is imported.

Paddle's bundled MKL takes a slow single-threaded path on AMD CPUs unless
``MKL_DEBUG_CPU_TYPE=5`` is set; ``OMP_NUM_THREADS`` sets the math threads.
glibc's malloc settings (``MALLOC_MMAP_MAX_``/``MALLOC_TRIM_THRESHOLD_``) stop the
dynamic graph from page-faulting big buffers in on every forward, but glibc reads
them only at process start, so ``setup(reexec=True)`` restarts the process once
with them set (on a 2-core AMD EPYC the first made a matrix multiply about 4x faster, the malloc
settings the x4plus dynamic-graph forward about 2.8x).
``single_arena=True`` is for processes that run Paddle ops on several Python
threads (the batched degradation, :mod:`data.degrade.slicing`): a thread's own malloc
arena page-faults every big buffer in again, so it sets ``MALLOC_ARENA_MAX=1``
(applied by the restart) and glibc's ``M_ARENA_MAX`` at once (``mallopt``), and
lets each slice thread run its math on one thread (``slice_threads``) so MKL and
OpenMP teams do not oversubscribe the cores.

This module is the one place that changes process-wide CPU settings, and it does so
only when an entry point (``train.py``, ``make_lq_data.py``, ``tools/*``) calls it.

The one ``sys.meta_path`` edit of the product (``tests/test_no_path_edits.py`` allows no other):
- why: a plain ``import paddle`` writes its import-time notices to stderr (here the two lines of its
  ccache ``UserWarning``) and replaces Python's SIGTERM handler with a C++ one
  that prints a stack dump; the tools' errors are one line and SIGTERM must run their ``finally`` blocks. Importing
  paddle quietly in ``setup`` would cost every tool 1-2 s before it reads its arguments, and paddle is imported
  in many modules (the first one to run is not known to ``setup``), so the first import is caught where it happens;
- what: ``setup(quiet=True)`` puts ``_QuietFirstImport`` first on ``sys.meta_path``. It answers for the name
  ``paddle`` only (every other import goes on to the normal finders), finds paddle's spec with the normal
  ``PathFinder`` and wraps its loader in ``_QuietLoader``: the module runs with warnings ignored and stderr
  captured, then paddle's loader is put back on the module and Python's SIGTERM handler (``python_sigterm``)
  reinstalled;
- when undone: at that first ``import paddle``, the finder takes itself off ``sys.meta_path`` before it looks
  (so it runs once, and paddle's own sub-imports are never wrapped). A process that never imports paddle keeps it
  till exit, answering nothing. Installed once: not when paddle is loaded already, nor twice
  (``quiet_first_paddle_import``). ``tests/utils/test_quiet_paddle_import.py`` holds this.
"""
import contextlib
import ctypes
import importlib.machinery
import io
import os
import signal
import sys
import threading
import warnings

MALLOC_ENV = {'MALLOC_MMAP_MAX_': '0', 'MALLOC_TRIM_THRESHOLD_': '100000000000'}
SINGLE_ARENA_ENV = {'MALLOC_ARENA_MAX': '1'}
_REEXEC_MARK = 'RESR_ENV_APPLIED'
_M_ARENA_MAX = -8  # glibc's mallopt parameter number
_SLICE_TUNING = False
# OMP_NUM_THREADS as the user set it: paddle sets it to '1' at import when it is unset, so a value read
# later cannot tell "the user asked for one thread" from "nobody asked" (see math_threads)
_USER_OMP = None if 'paddle' in sys.modules else os.environ.get('OMP_NUM_THREADS')
_SETUP_SET = False
_SIGTERM_INTERRUPT = False  # python_sigterm's kind: SystemExit (False) or KeyboardInterrupt (True)


def import_paddle_quietly():
    """Import paddle without its import-time notices on stderr (the OMP_NUM_THREADS
    and ccache warnings), so tools print only their own lines. Errors still raise."""
    if 'paddle' in sys.modules:
        return sys.modules['paddle']
    with _quiet():
        import paddle
    python_sigterm()
    return paddle


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter('ignore')
        yield


class _QuietLoader:
    """Paddle's own loader, run quietly, with Python's SIGTERM handler put back after (``_QuietFirstImport``)."""

    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self.real  # paddle sees its own loader
        with _quiet():
            self.real.exec_module(module)
        python_sigterm()


class _QuietFirstImport:
    """A ``sys.meta_path`` finder that makes the process's first ``import paddle``, wherever it happens, the one of
    ``import_paddle_quietly``: ``setup`` installs it instead of importing paddle, so a tool that ends on a bad
    argument, path or options file does so before Paddle's 1-2 s import."""

    def find_spec(self, name, path=None, target=None):
        if name != 'paddle' or self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)  # once: the real finders find paddle, whose loader is wrapped
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def _deferred():
    """True while ``_QuietFirstImport`` waits for paddle's first import."""
    return any(isinstance(f, _QuietFirstImport) for f in sys.meta_path)


def quiet_first_paddle_import():
    """Install ``_QuietFirstImport`` (once; nothing to do when paddle is imported already)."""
    if 'paddle' not in sys.modules and not _deferred():
        sys.meta_path.insert(0, _QuietFirstImport())


def python_sigterm(interrupt=None):
    """Paddle installs a C++ handler that prints a stack-dump wall on SIGTERM (``timeout``, ``kill``): give
    SIGTERM back to Python, as a quiet ``SystemExit(143)`` that runs ``finally`` blocks (temp files go).
    ``interrupt=True``: a KeyboardInterrupt instead, for the tools that end a Ctrl-C with one line and can
    resume (train.py, infer.py, predict.py); a second SIGTERM then kills at once. ``None``: the kind set last
    (a deferred paddle import puts back the handler the tool chose)."""
    global _SIGTERM_INTERRUPT
    chosen = interrupt is not None
    interrupt = _SIGTERM_INTERRUPT = bool(interrupt) if chosen else _SIGTERM_INTERRUPT
    if threading.current_thread() is not threading.main_thread():
        return
    if chosen:  # a new choice starts clean; putting the same handler back keeps a dropped SIGTERM's flag
        _TERMINATED.clear()

    def stop(signum, frame):
        if interrupt:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _TERMINATED.set()
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)


# Set by a SIGTERM that became a KeyboardInterrupt (python_sigterm(interrupt=True)). Python runs a signal handler at
# the main thread's next bytecode, which can be inside a ``__del__`` or a weakref callback, where an exception is
# printed as "Exception ignored" and dropped: a CI run under load saw train.py go on training after its SIGTERM.
_TERMINATED = threading.Event()


def raise_if_terminated():
    """Raise the KeyboardInterrupt of a SIGTERM that Python dropped (see ``_TERMINATED``). The long loops of the
    tools whose SIGTERM is an interrupt call it once per step: the trainer's steps, ``tools/infer.py``'s files and
    the video frame loop's model calls."""
    if _TERMINATED.is_set():
        _TERMINATED.clear()
        raise KeyboardInterrupt


def interrupt_on_sigterm():
    """SIGTERM ends the run as Ctrl-C does (see ``python_sigterm``). Paddle's import would replace the handler: it
    is imported first, unless ``setup`` deferred it (``_QuietFirstImport`` puts this handler back after it)."""
    if not _deferred():
        import_paddle_quietly()
    python_sigterm(interrupt=True)


def setup(threads=None, reexec=False, quiet=True, single_arena=False):
    """Set the CPU math environment. Call before ``import paddle``.

    Args:
        threads: math threads; default: the CPUs this process may use.
        reexec: restart the current script once so that the malloc settings
            take effect (skipped when paddle is already imported, when
            ``RESR_NO_REEXEC=1``, or when the process was started as ``-c``).
        quiet: paddle's first import, wherever it happens, hides its import-time
            notices and keeps Python's SIGTERM handler (``_QuietFirstImport``);
            it happens at first use, not here.
        single_arena: also keep every thread on glibc's main malloc arena
            (``MALLOC_ARENA_MAX=1``, applied by the restart).
    """
    global _SETUP_SET
    ncpu = cpu_count()
    os.environ.setdefault('MKL_DEBUG_CPU_TYPE', '5')
    if threads:
        os.environ['OMP_NUM_THREADS'] = str(int(threads))
    else:
        os.environ.setdefault('OMP_NUM_THREADS', str(ncpu))
    _SETUP_SET = 'paddle' not in sys.modules  # set before paddle loaded: its value is ours, '1' included
    os.environ.setdefault('GLOG_minloglevel', '2')  # Paddle's C++ INFO lines drown the progress bars
    os.environ.setdefault('OPENCV_LOG_LEVEL', 'ERROR')  # our own one-line errors say what failed
    env = dict(MALLOC_ENV, **(SINGLE_ARENA_ENV if single_arena else {}))
    if reexec and _should_reexec(env):
        _reexec(env)
    if single_arena:
        _tune_for_slices()
    if quiet:
        quiet_first_paddle_import()


def _tune_for_slices():
    """Keep every thread on glibc's main malloc arena from now on, and turn on ``slice_threads``."""
    global _SLICE_TUNING
    _SLICE_TUNING = True
    try:
        ctypes.CDLL('libc.so.6').mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


PARENT_ENV = 'RESR_PARENT_PID'


def die_with_parent():
    """End this process when the process named by ``RESR_PARENT_PID`` ends, even by SIGKILL (Linux).

    ``tools/finetune_domain.py`` runs train.py as a child; without this, killing the pipeline alone left the
    trainer running, and a re-run would start a second trainer on the same folder. The trainer's files are
    written atomically, so ending it at any point is safe and the re-run resumes. No effect elsewhere."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith('linux'):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG (kept across exec)
    except (OSError, AttributeError, ValueError):
        return
    if str(os.getppid()) != parent:  # the parent ended before the line above
        os._exit(143)


def cpu_count():
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


def math_threads():
    """The math threads to use when none are asked for: ``OMP_NUM_THREADS`` as the user or ``setup`` set it,
    else the CPUs this process may use. The '1' that paddle writes at import when the variable is unset
    does not count: a Python caller who never set it (``Upscaler`` without ``threads``) gets every CPU, not
    one thread at half the speed. If paddle was imported before this module, a '1' is taken as paddle's."""
    value = os.environ.get('OMP_NUM_THREADS', '')
    if value == '1' and 'paddle' in sys.modules and not _SETUP_SET and _USER_OMP != '1':
        value = ''  # paddle's own '1'
    try:
        return max(1, int(value))
    except ValueError:
        return cpu_count()


def slice_threads(n):
    """Paddle's math threads (process-wide in MKL), when ``setup(single_arena=True)`` opted in: ``n`` = 1 on a
    batch-slice thread, ``None`` to put back ``math_threads()``. Does nothing otherwise."""
    if not _SLICE_TUNING or 'paddle' not in sys.modules:
        return
    sys.modules['paddle'].base.core.set_num_threads(math_threads() if n is None else int(n))


def _should_reexec(env):
    if os.environ.get(_REEXEC_MARK) or os.environ.get('RESR_NO_REEXEC') == '1':
        return False
    if 'paddle' in sys.modules or not sys.argv or not sys.argv[0] or sys.argv[0] in ('-c', '-m'):
        return False
    return not all(os.environ.get(k) == v for k, v in env.items())


def _reexec(extra):
    env = dict(os.environ, **extra)
    env[_REEXEC_MARK] = '1'
    sys.stdout.flush()
    sys.stderr.flush()
    # the command line as typed: `python -m realesrgan_paddle.command predict` re-runs the module (sys.argv[0] is its
    # file, which as a script has no package), and interpreter flags such as -P stay (sys.orig_argv: 3.10+)
    orig = getattr(sys, 'orig_argv', None)
    os.execve(sys.executable, [sys.executable] + (orig[1:] if orig else sys.argv), env)
