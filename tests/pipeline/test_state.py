"""state.json of the domain pipeline: hashes chain downstream, temp-then-commit folders,
invalidation of later stages, and reuse of a matching .partial folder after a kill."""
import json

from realesrgan_paddle.pipeline.state import WorkState, settings_hash

STAGES = ('a', 'b', 'c')


def test_hash_depends_on_settings_and_upstream():
    assert settings_hash({'x': 1}) == settings_hash({'x': 1})
    assert settings_hash({'x': 1}) != settings_hash({'x': 2})
    assert settings_hash({'x': 1}, 'u1') != settings_hash({'x': 1}, 'u2')


def test_commit_invalidate_and_partial_reuse(tmp_path):
    st = WorkState(tmp_path, STAGES)
    for s in STAGES:
        part = st.begin(s, f'h{s}')
        (part / 'out.txt').write_text(s)
        st.commit(s, f'h{s}', 1.5, {'n': 1})
    assert all(st.is_done(s, f'h{s}') for s in STAGES)
    assert not list(tmp_path.glob('*.partial'))
    reread = WorkState(tmp_path, STAGES)   # state.json round trip
    assert reread.is_done('b', 'hb') and not reread.is_done('b', 'other')
    assert json.loads((tmp_path / 'state.json').read_text())['stages']['c']['info'] == {'n': 1}

    reread.invalidate_from('b')
    assert reread.is_done('a', 'ha') and not (tmp_path / 'b').exists() and not (tmp_path / 'c').exists()
    assert set(WorkState(tmp_path, STAGES).data['stages']) == {'a'}

    # a run killed inside stage b: its partial folder is reused with the same hash, dropped with another
    part = reread.begin('b', 'hb2')
    (part / 'progress.txt').write_text('half')
    again = WorkState(tmp_path, STAGES)
    assert (again.begin('b', 'hb2') / 'progress.txt').read_text() == 'half'
    assert not (again.begin('b', 'changed') / 'progress.txt').exists()


def test_unreadable_state_starts_over(tmp_path):
    (tmp_path / 'state.json').write_text('{torn')
    st = WorkState(tmp_path, STAGES)
    assert st.data['stages'] == {} and not st.is_done('a', 'x')
