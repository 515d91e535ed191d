"""Two makers of one store entry at once (two ranks of one training on a fresh cache, each importing the teacher's
weights): one makes it while the other waits on the entry's lock, then takes what was made (``reuse``) instead of
removing it under the first one's feet; without ``reuse`` the second makes it again, after the first, never
beside it. Two processes in parallel: each finds the entry whole."""
import subprocess
import sys
import threading
import time

from realesrgan_paddle.store import ownership

FACTS = {'made_from': 'abc', 'revision': 1}


def _slow_maker(started, calls, name, payload):
    def fill(folder):
        calls.append((name, time.monotonic()))
        started.set()
        time.sleep(0.5)  # the other maker arrives meanwhile
        (folder / 'w.bin').write_bytes(payload)
        calls.append((name + ' done', time.monotonic()))
    return fill


def _race(root, reuse):
    started, calls, got = threading.Event(), [], {}

    def first():
        got['first'] = ownership.write_entry('weights', 'net', _slow_maker(started, calls, 'first', b'1' * 64),
                                             FACTS, root, reuse=reuse)
    t = threading.Thread(target=first)
    t.start()
    started.wait(10)
    got['second'] = ownership.write_entry('weights', 'net', _slow_maker(threading.Event(), calls, 'second',
                                                                        b'2' * 64), FACTS, root, reuse=reuse)
    t.join()
    return calls, got


def test_the_second_maker_waits_and_takes_the_entry_made(tmp_path):
    calls, got = _race(tmp_path, reuse=True)
    assert [c[0] for c in calls] == ['first', 'first done']  # the second never made it
    assert got['second'].dir == got['first'].dir and got['second'].digests == got['first'].digests
    assert (got['first'].dir / 'w.bin').read_bytes() == b'1' * 64
    assert ownership.check_entry(got['first'].dir, 'weights', 'net', FACTS).digests == got['first'].digests
    assert sorted(p.name for p in got['first'].dir.parent.iterdir()) == ['net']  # no lock file, no temporary left


def test_without_reuse_the_second_makes_it_after_the_first(tmp_path):
    calls, got = _race(tmp_path, reuse=False)
    assert [c[0] for c in calls] == ['first', 'first done', 'second', 'second done']  # the lock held it back
    assert calls[2][1] >= calls[1][1]
    assert (got['second'].dir / 'w.bin').read_bytes() == b'2' * 64
    assert ownership.check_entry(got['second'].dir, 'weights', 'net', FACTS).digests == got['second'].digests


MAKER = """
import sys, time
from pathlib import Path
from realesrgan_paddle.store import ownership
made = []
def fill(folder):
    made.append(1)
    time.sleep(0.5)
    (folder / 'w.bin').write_bytes(b'x' * 4096)
e = ownership.write_entry('weights', 'net', fill, {'made_from': 'abc'}, Path(sys.argv[1]), reuse=True)
print((e.dir / 'w.bin').read_bytes() == b'x' * 4096, e.digests['w.bin'], len(made))
"""


def test_two_processes_each_find_the_entry_whole(tmp_path):
    from tests.user_path import ROOT
    procs = [subprocess.Popen([sys.executable, '-c', MAKER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    lines = [o[0].split() for o in outs]
    assert sorted(p.name for p in (tmp_path / 'store' / 'weights').iterdir()) == ['net']
    assert [ln[0] for ln in lines] == ['True', 'True'] and lines[0][1] == lines[1][1]
    assert sorted(ln[2] for ln in lines) == ['0', '1']  # made once, by one of them
