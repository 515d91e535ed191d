"""What the tests check of a tool's refusal or warning: its behaviour (one line, no traceback, the file, flag and
value it is about), not its wording."""


def names_all(line, *names):
    """True when ``line`` names each of ``names`` (a path, a flag, a value, a key word)."""
    return all(str(n) in line for n in names)


def one_line(err, *names):
    """The one non-blank line of ``err`` (stderr as text or lines), checked: no traceback, and it names each of
    ``names``; returned for further checks."""
    lines = [ln for ln in (err.splitlines() if isinstance(err, str) else err) if ln.strip()]
    assert not any('Traceback' in ln for ln in lines), '\n'.join(lines)[-2000:]
    assert len(lines) == 1, '\n'.join(lines)[-2000:]
    assert names_all(lines[0], *names), (names, lines[0])
    return lines[0]


def a_line(err, *names):
    """The first line of ``err`` (text or lines) that names each of ``names``; AssertionError when none does."""
    lines = err.splitlines() if isinstance(err, str) else list(err)
    found = [ln for ln in lines if names_all(ln, *names)]
    assert found, (names, '\n'.join(lines)[-2000:])
    return found[0]
