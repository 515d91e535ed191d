"""pipeline/report/frontier.py: the report's frontier table from an evaluation, and the plot drawn from that table."""
import math

from realesrgan_paddle.pipeline.report.doc import Doc, _cell
from realesrgan_paddle.pipeline.report.frontier import COL, add_section, export_paragraph, frontier_rows
from tests.cli_checks import a_line


def _s(psnr, detail, niqe, ssim=0.8):
    return {'psnr': psnr, 'ssim': ssim, 'detail': detail, 'niqe': niqe}


def _res():
    """An evaluate stage's metrics.json, constructed: bicubic, base, a --compare model, two checkpoints and a
    sweep of the second (one blend without NIQE, as with frames under 96 px)."""
    base = _s(26.0, 0.1, 8.0)
    sel = {'summary': {'base': base, 'iter_2': _s(26.4, 0.3, 7.2), 'iter_4': _s(26.6, 0.6, 6.4)},
           'candidates': {'iter_2': 2, 'iter_4': 4}}
    blends = {'dni_0.00': base, 'dni_0.50': _s(26.9, 0.3, float('nan')), 'dni_0.75': _s(26.8, 0.45, 6.9),
              'dni_1.00': sel['summary']['iter_4']}
    return {'selection': sel, 'exported': {'name': 'iter_4'},
            'models': {'bicubic': 'bicubic', 'base': 'b.pdparams', 'finetuned': 'x', 'x4plus': 'realesrgan-x4plus'},
            'summary': {'bicubic': _s(25.5, 0.02, 9.5), 'base': base, 'finetuned': sel['summary']['iter_4'],
                        'x4plus': _s(25.9, 0.8, 3.1)},
            'rows': [{'image': 'a.png', 'gt_niqe': 3.0}, {'image': 'b.png', 'gt_niqe': float('nan')}],
            'dni': {'finetune': 'iter_4', 'iteration': 4, 'weights': [0.0, 0.5, 0.75, 1.0], 'summary': blends,
                    'chosen': 0.75, 'reason': 'weight 0.75 has the highest score'}}


def test_rows_are_every_model_checkpoint_and_inner_blend():
    rows = frontier_rows(_res(), {'name': 'dni_0.75', 'weight': 0.75, 'finetune': 'iter_4', 'how': 'the DNI rule'})
    assert [(r[0], r[1]) for r in rows] == [('bicubic', 'reference'), ('base', 'base'), ('x4plus', 'compare'),
                                            ('iter_2', 'checkpoint'), ('iter_4', 'checkpoint'),
                                            ('dni_0.50', 'blend'), ('dni_0.75', 'blend')]
    assert [r[COL['exported']] for r in rows] == ['', '', '', '', '', '', 'yes']
    assert rows[4][COL['PSNR']] == 26.6 and rows[6][COL['iteration / weight']] == '0.75'
    # weight 1 is the checkpoint's own row, 0 the base's
    assert [r[0] for r in frontier_rows(_res(), {'weight': 1.0}) if r[-1]] == ['iter_4']
    assert [r[0] for r in frontier_rows(_res(), {'weight': 0.0}) if r[-1]] == ['base']
    assert not any(r[-1] for r in frontier_rows(_res(), {'weight': 0.3}))  # off the grid: no row


def _points(ax):
    return sorted((float(x), float(y)) for c in ax.collections for x, y in c.get_offsets())


def test_the_plot_is_drawn_from_the_reports_own_table(tmp_path):
    d = Doc()
    fig = add_section(d, _res(), {'name': 'dni_0.75', 'weight': 0.75, 'finetune': 'iter_4', 'how': 'the DNI rule'},
                      tmp_path)
    assert (tmp_path / 'frontier.png').stat().st_size > 10000
    (table,) = [b for b in d.blocks if b[0] == 'table']
    header, cells = table[1], table[2]
    psnr, niqe, detail = (header.index(h) for h in ('PSNR', 'NIQE', 'detail'))
    # every point of each panel is a row of the table as the report prints it, and every row is a point
    # (the blend without NIQE is left out of the NIQE panel only)
    for ax, col in zip(fig.axes, (niqe, detail)):
        drawn = sorted((_cell(x), _cell(y)) for x, y in _points(ax))
        shown = sorted((r[col], r[psnr]) for r in cells if r[col] not in ('n/a', '-'))
        assert drawn == shown
    assert len(_points(fig.axes[0])) == len(cells) - 1 and len(_points(fig.axes[1])) == len(cells)
    # the ring marks the exported row
    ring = [ln for ln in fig.axes[1].lines if ln.get_markerfacecolor() == 'none']
    (row,) = [r for r in cells if r[-1] == 'yes']
    assert len(ring) == 1 and (_cell(ring[0].get_xdata()[0]), _cell(ring[0].get_ydata()[0])) == (row[detail], row[psnr])
    # the blends' line runs from the base through the blends to the blended checkpoint
    (blend_line,) = [ln for ln in fig.axes[1].lines if ln.get_color() == 'tab:orange']
    assert [_cell(y) for y in blend_line.get_ydata()] == ['26.00', '26.90', '26.80', '26.60']
    md = '\n'.join(b[1] for b in d.blocks if b[0] == 'p')
    assert 'weight 0.75 has the highest score' in md and 'at w = 0, 0.5, 0.75, 1' in md
    # GT NIQE: the mean of the measured frames
    assert any(math.isclose(ln.get_xdata()[0], 3.0) for ln in fig.axes[0].lines if ln.get_color() == 'green')


def test_the_flag_is_said(tmp_path):
    d = Doc()
    add_section(d, _res(), {'name': 'dni_0.30', 'weight': 0.3, 'finetune': 'iter_4', 'how': '--dni-weight',
                            'summary': None}, tmp_path)
    text = '\n'.join(b[1] for b in d.blocks if b[0] == 'p')
    a_line(text, '--dni-weight 0.3', '0.3 x iter_4 + 0.7 x base')  # the flag and the blend it exported
    assert export_paragraph({'weight': 0.4, 'finetune': 'iter_4', 'how': '--dni-weight',
                             'summary': _s(26.9, 0.3, 7.0)}) == ('**Exported: the DNI blend 0.4 x iter_4 + 0.6 x base '
                                                                 '(--dni-weight)**: PSNR 26.90 dB, detail 0.300, NIQE '
                                                                 '7.00 (see the frontier section).')


def _with_real(paired):
    res = _res()
    pts = {'bicubic': _s(25.0, 0.01, 9.0), 'base': _s(25.2, 0.05, 8.5), 'finetuned': _s(25.5, 0.4, 9.2),
           'x4plus': _s(24.8, 0.3, 5.0), 'iter_2': _s(25.4, 0.3, 8.9), 'iter_4': _s(25.5, 0.4, 9.2)}
    blends = {'dni_0.50': _s(25.6, 0.2, 7.5), 'dni_0.75': _s(25.6, 0.3, 8.4)}
    if not paired:
        pts = {k: {'niqe': v['niqe'], 'detail_vs_bicubic': 10 * v['detail']} for k, v in pts.items()}
        blends = {k: {'niqe': v['niqe'], 'detail_vs_bicubic': 10 * v['detail']} for k, v in blends.items()}
    res['real'] = {'frames': 2, 'paired': paired, 'summary': pts, 'models': ['bicubic', 'base', 'finetuned', 'x4plus'],
                   'rows': [{'image': 'a.png', 'gt_niqe': 4.0}]}
    res['dni']['real'] = {'paired': paired, 'summary': blends}
    return res


def test_the_real_frames_get_their_own_table_and_plot_with_the_blends(tmp_path):
    info = {'name': 'dni_0.75', 'weight': 0.75, 'finetune': 'iter_4', 'how': 'the DNI rule'}
    rows = frontier_rows(_with_real(True), info, on='real')
    assert [r[0] for r in rows] == ['bicubic', 'base', 'x4plus', 'iter_2', 'iter_4', 'dni_0.50', 'dni_0.75']
    assert rows[5][COL['PSNR']] == 25.6 and rows[5][COL['NIQE']] == 7.5 and rows[6][COL['exported']] == 'yes'
    d = Doc()
    add_section(d, _with_real(True), info, tmp_path)
    tables = [b for b in d.blocks if b[0] == 'table']
    assert len(tables) == 2 and [r[0] for r in tables[1][2]] == [r[0] for r in rows]
    assert (tmp_path / 'frontier_real.png').stat().st_size > 10000
    d = Doc()
    (tmp_path / 'n').mkdir()
    add_section(d, _with_real(False), info, tmp_path / 'n')  # no HR frames: NIQE and detail vs bicubic, no plot
    header, cells = [b for b in d.blocks if b[0] == 'table'][1][1:3]
    assert header == ['point', 'kind', 'iteration / weight', 'NIQE', 'detail vs bicubic', 'exported']
    assert [c[0] for c in cells][-2:] == ['dni_0.50', 'dni_0.75'] and cells[-2][3] != '-'
    assert not (tmp_path / 'n' / 'frontier_real.png').exists()
