"""Run a command and write its peak resident memory (and CPU time) to a JSON file, its own memory not counted.

    python benchmarks/peak_rss.py peak.json -- python tools/infer.py -i big.png -o out.png --max_memory 600M

Why a launcher: on Linux a child's ``ru_maxrss`` (``os.wait4``) is not only the child's. When the child calls
``exec``, the kernel folds the high-water mark of the address space it leaves (a copy of the parent's, or with
``vfork`` the parent's own) into the child's maximum. A parent holding 1.4 GB (a pytest worker late in the suite,
a benchmark holding photos) therefore makes a 600 MB child read as 1.4 GB. This process is small (about 15 MB),
so what it measures of its own child is the child. The command's stdout and stderr pass through; the exit code
is the command's (or 128 + the signal that ended it).
"""
import json
import os
import signal
import subprocess
import sys


def main(argv):
    if len(argv) < 3 or argv[1] != '--':
        sys.exit('usage: python benchmarks/peak_rss.py OUT.json -- COMMAND [ARGS...]')
    out, cmd = argv[0], argv[2:]
    proc = subprocess.Popen(cmd)
    signal.signal(signal.SIGTERM, lambda *_: proc.kill())
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(out, 'w') as f:
        json.dump({'peak_rss': usage.ru_maxrss * 1024, 'cpu_s': usage.ru_utime + usage.ru_stime,
                   'returncode': code}, f)
    return code if code >= 0 else 128 - code


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
