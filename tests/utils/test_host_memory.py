"""utils.host_memory: the memory a process may still take is the least of the host's MemAvailable and, at every
level of its memory cgroup (v2 or v1), the limit minus the usage plus the page cache it could drop (issue 73: the
attacks were killed at a 3 GiB cgroup while MemAvailable said 20 GB)."""
from realesrgan_paddle.utils import host_memory

GIB = 1 << 30


def _files(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cgroup_v2_limit_minus_usage_plus_inactive_file(tmp_path):
    _files(tmp_path, {'proc': '0::/user.slice/job\n', 'cg/user.slice/job/memory.max': f'{3 * GIB}\n',
                      'cg/user.slice/job/memory.current': f'{GIB}\n',
                      'cg/user.slice/job/memory.stat': 'anon 100\ninactive_file 1048576\nactive_file 5\n',
                      'cg/user.slice/memory.max': 'max\n', 'cg/memory.max': 'max\n'})
    assert host_memory.cgroup_headroom(tmp_path / 'proc', tmp_path / 'cg') == 2 * GIB + (1 << 20)


def test_the_tightest_level_counts(tmp_path):
    """A parent slice's limit binds its children: the least room over the levels."""
    _files(tmp_path, {'proc': '0::/a/b\n', 'cg/a/b/memory.max': f'{8 * GIB}\n', 'cg/a/b/memory.current': f'{GIB}\n',
                      'cg/a/memory.max': f'{2 * GIB}\n', 'cg/a/memory.current': f'{GIB // 2}\n'})
    assert host_memory.cgroup_headroom(tmp_path / 'proc', tmp_path / 'cg') == GIB + GIB // 2


def test_cgroup_v1_and_no_limit(tmp_path):
    _files(tmp_path, {'proc': '4:memory:/job\n3:cpuset:/\n', 'cg/memory/job/memory.limit_in_bytes': f'{3 * GIB}\n',
                      'cg/memory/job/memory.usage_in_bytes': f'{2 * GIB}\n',
                      'cg/memory/job/memory.stat': 'cache 5\ntotal_inactive_file 4096\n',
                      'cg/memory/memory.limit_in_bytes': '9223372036854771712\n'})
    assert host_memory.cgroup_headroom(tmp_path / 'proc', tmp_path / 'cg') == GIB + 4096
    _files(tmp_path, {'cg/memory/job/memory.limit_in_bytes': '9223372036854771712\n'})
    assert host_memory.cgroup_headroom(tmp_path / 'proc', tmp_path / 'cg') is None
    assert host_memory.cgroup_headroom(tmp_path / 'missing', tmp_path / 'cg') is None


def test_available_memory_takes_the_smaller(monkeypatch):
    monkeypatch.setattr(host_memory, 'host_available', lambda: 20 * GIB)
    monkeypatch.setattr(host_memory, 'cgroup_headroom', lambda: 3 * GIB)
    assert host_memory.available_memory() == 3 * GIB
    monkeypatch.setattr(host_memory, 'cgroup_headroom', lambda: None)
    assert host_memory.available_memory() == 20 * GIB


def test_this_machine_gives_a_positive_figure():
    assert 0 < host_memory.available_memory() and host_memory.host_available() > 0
