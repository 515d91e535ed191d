"""The one argument parser of every command-line tool.

* Every long flag is accepted in both spellings: ``--tile_pad`` and ``--tile-pad``,
  ``--no-progress`` and ``--no_progress``. Only the spelling the tool declares is
  shown in ``--help``.
* A usage error is one line (``prog: error: ... (--help for usage)``), exit status 2.
* ``add_quiet`` gives every tool with progress bars the same ``-q/--quiet/--no-progress``.

Needs only the standard library, so a tool can parse its arguments before any
heavy import.
"""
import argparse
import sys

EXIT_USAGE = 2


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
    pass


class RawHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with both spellings of each long flag and one-line usage errors."""

    def __init__(self, *args, **kwargs):
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


class Unsupported(argparse.Action):
    """A flag of the official tools that this project does not offer: one line, exit status 2."""

    def __init__(self, option_strings, dest, reason='', **kwargs):
        self.reason = reason
        kwargs.setdefault('nargs', 0)
        kwargs.setdefault('help', f'not supported: {reason}')
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.exit(EXIT_USAGE, f'{parser.prog}: error: {option_string} is not supported: {self.reason}\n')


def fail(prog, message):
    """One-line usage error from a tool's own post-parse checks; exit status 2."""
    print(f'{prog}: error: {message}', file=sys.stderr)
    raise SystemExit(EXIT_USAGE)

