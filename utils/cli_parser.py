"""The one argument parser of every command-line tool.

* Every long flag is accepted in both spellings: ``--tile_pad`` and ``--tile-pad``,
  ``--no-progress`` and ``--no_progress``. Only the spelling the tool declares is
  shown in ``--help``.
* A usage error is one line (``prog: error: ... (--help for usage)``), exit status 2.
* One flag a meaning: ``add_input``, ``add_output``, ``add_workers``, ``add_device`` and
  ``add_quiet`` declare ``-i/--input``, ``-o/--output``, ``--workers``, ``--device`` and
  ``-q/--quiet`` the same way in every tool; a tool's older name for the same thing stays
  as an alias (``--n_thread``, ``--save-inference-dir``...). ``train.py`` and
  ``tools/finetune_domain.py`` keep ``-o`` for an option override, as BasicSR and
  PaddleOCR do (docs/cli.md).
* One way to fail: ``fail()`` prints one ``error: ...`` line and stops the tool with an exit
  status; ``returns_status`` makes a tool's ``main()`` return that status instead of raising.

Needs only the standard library, so a tool can parse its arguments before any
heavy import.
"""
import argparse
import functools
import sys

from realesrgan_paddle.utils.progress import write_line

EXIT_USAGE = 2


def without_flag(argv, flag):
    """``argv`` with ``flag VALUE`` and ``flag=VALUE`` taken out (to pass the rest on to another command)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(f'{flag}='):
            out.append(a)
    return out


def check_dni_weight(weight, what='dni weight'):
    """``weight`` as a float in [0, 1]; ValueError (one line) otherwise: a DNI weight or a denoise strength, checked
    by the tools before paddle loads and by ``models.dni`` and ``models.zoo``."""
    try:
        w = float(weight)
    except (TypeError, ValueError):
        raise ValueError(f'{what} must be a number in [0, 1], got {weight!r}') from None
    if not 0.0 <= w <= 1.0:  # also refuses NaN
        raise ValueError(f'{what} must be in [0, 1], got {weight}')
    return w


def int_in(low, high=None):
    """An argparse ``type``: a whole number from ``low`` (to ``high``, when given); a one-line usage error otherwise."""
    want = f'a whole number from {low} to {high}' if high is not None else f'a whole number >= {low}'

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected {want}, got {text!r}') from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f'expected {want}, got {value}')
        return value
    parse.__name__ = 'whole number'
    return parse


def other_spelling(flag):
    """``--a_b`` -> ``--a-b`` and back; None for short flags and one-word flags."""
    if not flag.startswith('--'):
        return None
    body = flag[2:]
    if '_' in body:
        return '--' + body.replace('_', '-')
    if '-' in body:
        return '--' + body.replace('-', '_')
    return None


class HelpFormatter(argparse.HelpFormatter):
    """Shows only the declared spellings (not the automatic ``-``/``_`` twins)."""

    def _format_action_invocation(self, action):
        hidden = getattr(action, 'auto_spellings', ())
        if not hidden:
            return super()._format_action_invocation(action)
        shown = [s for s in action.option_strings if s not in hidden]
        saved = action.option_strings
        action.option_strings = shown
        try:
            return super()._format_action_invocation(action)
        finally:
            action.option_strings = saved


class DefaultsHelpFormatter(HelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to an option's help, unless the help already names its default or there is none
    to show (None, or False for a switch)."""

    def _get_help_string(self, action):
        text = action.help or ''
        if 'default' in text or action.default is None or action.default is False \
                or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


class RawHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


_COMMAND_PROG = []  # 'realesrgan-paddle <command>', set by the installed command for the tool's own parser


def name_next_parser(prog):
    """The next ``ArgumentParser`` made without a ``prog`` of its own (or with a script's name, ``<script>.py``) is
    called ``prog`` in its usage, help and errors: ``realesrgan_paddle.command`` runs a tool's ``main`` as
    ``realesrgan-paddle <command>``. Only the next one: parsers the tool builds later keep their names."""
    _COMMAND_PROG[:] = [prog]


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with both spellings of each long flag and one-line usage errors."""

    def __init__(self, *args, **kwargs):
        if _COMMAND_PROG and not args and str(kwargs.get('prog') or '.py').endswith('.py'):
            kwargs['prog'] = _COMMAND_PROG.pop()
        kwargs.setdefault('formatter_class', HelpFormatter)
        kwargs.setdefault('epilog', 'Every --long_flag is also accepted as --long-flag, and the other way round.')
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, **kwargs):
        names = list(names)
        added = []
        for n in list(names):
            twin = other_spelling(n) if isinstance(n, str) else None
            if twin and twin not in names and twin not in self._option_string_actions:
                names.append(twin)
                added.append(twin)
        action = super().add_argument(*names, **kwargs)
        action.auto_spellings = tuple(added)
        return action

    def error(self, message):
        self.exit(EXIT_USAGE, f'{self.prog}: error: {message} (--help for usage)\n')


def add_quiet(parser, dest='quiet'):
    """``-q/--quiet/--no-progress``: the same switch in every tool that draws progress bars."""
    return parser.add_argument('-q', '--quiet', '--no-progress', dest=dest, action='store_true',
                               help='no progress bars (log lines only)')


def _canonical(parser, names, aliases, kwargs):
    names = list(names) + [a for a in aliases if a not in names]
    return parser.add_argument(*names, **kwargs)


def add_input(parser, help, aliases=(), **kwargs):
    """``-i/--input``: what the tool reads (a file, a folder, several of them with ``nargs``)."""
    return _canonical(parser, ('-i', '--input'), aliases, dict({'dest': 'input'}, help=help, **kwargs))


def add_output(parser, help, aliases=(), **kwargs):
    """``-o/--output``: what the tool writes (a file or a folder). ``aliases``: the tool's older names."""
    return _canonical(parser, ('-o', '--output'), aliases, dict({'dest': 'output'}, help=help, **kwargs))


def folders_parser(doc, input_help, output_help):
    """The parser of a tool that reads the folder ``-i/--input`` and writes the folder ``-o/--output`` (both
    required); its description is the first paragraph of ``doc`` (the tool's docstring)."""
    parser = ArgumentParser(description=doc.split('\n\n')[0])
    add_input(parser, required=True, help=input_help)
    add_output(parser, required=True, help=output_help)
    return parser


def add_workers(parser, default, help, aliases=()):
    """``--workers N``: how many processes or threads share the files (>= 1). Not ``--threads``,
    which in ``infer.py`` and the benchmarks is the number of CPU math threads of one process."""
    return _canonical(parser, ('--workers',), aliases,
                      dict(dest='workers', type=int, default=default, metavar='N', help=help))


def add_device(parser, default='cpu', choices=None, help=None):
    """``--device``: ``cpu``, ``gpu`` or ``gpu:N`` (``choices`` narrows it for a tool)."""
    shown = ', '.join(choices) if choices else 'cpu, gpu or gpu:N'
    return parser.add_argument('--device', default=default, choices=choices,
                               help=help or f'where to run: {shown} (default: {default or "cpu"})')


class Unsupported(argparse.Action):
    """A flag of the official tools that this project does not offer: one line, exit status 2."""

    def __init__(self, option_strings, dest, reason='', **kwargs):
        self.reason = reason
        kwargs.setdefault('nargs', 0)
        kwargs.setdefault('help', f'not supported: {reason}')
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.exit(EXIT_USAGE, f'{parser.prog}: error: {option_string} is not supported: {self.reason}\n')


class Failed(SystemExit):
    """Raised by ``fail()`` once its line is printed; ``code`` is the exit status."""


MAX_LINE = 2000  # characters of one error line; the rest is cut (a value echoed from a hostile file can be huge)


def clip_line(text, limit=MAX_LINE):
    """``text`` as is, or its first ``limit`` characters and how many were cut."""
    text = str(text)
    return text if len(text) <= limit else f'{text[:limit]}... ({len(text) - limit} more characters cut)'


def fail(prog, message, status=EXIT_USAGE):
    """Print ``prog: error: message`` (``error: message`` when prog is None) on stderr and stop the
    tool with ``status``: 2 for bad input or usage (the default), 1 for a step that failed.
    ``message`` may be a list: one line each (several problems found in one file)."""
    prefix = f'{prog}: error: ' if prog else 'error: '
    for line in (message if isinstance(message, (list, tuple)) else [message]):
        write_line(f'{prefix}{clip_line(line)}', sys.stderr)  # one write: never glued to a worker's log line
    raise Failed(status)


def returns_status(main):
    """Decorate a tool's ``main(argv=None)`` so that a ``fail()`` inside it returns the exit status
    (as the tools' tests call ``main()``) instead of raising."""
    @functools.wraps(main)
    def run(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Failed as stop:
            return stop.code
    return run
