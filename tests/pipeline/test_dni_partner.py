"""The fidelity knob's partner (pipeline/train/partner.py): its options, the sweep blending with it instead of the base,
the rule that may pick it and keeps above the PSNR of bicubic and the base on the real frames, the export, and the
frontier rows."""
import yaml

from realesrgan_paddle.pipeline.choice import dni_sweep as S
from realesrgan_paddle.pipeline.train.partner import partner_options
from realesrgan_paddle.pipeline.train.recipes import FITTED_PARTNER, OPTIONS, fitted_recipe, loss_entry
from realesrgan_paddle.training.option_file import apply_overrides

TEMPLATE = OPTIONS / 'finetune_domain_compact_cpu.yml'


def _anchor(opt):
    return loss_entry(opt['train'], 'l_g_anchor')


def _opt(tmp_path, total=300, energy=None):
    opt = yaml.safe_load(TEMPLATE.read_text())
    dirs = {k: tmp_path / k for k in ('train_hr', 'val_hr', 'val_lq')}
    for d in dirs.values():
        d.mkdir(exist_ok=True)
    apply_overrides(opt, fitted_recipe(TEMPLATE) + [
        f'train.total_iter={total}', f'path.experiments_root={tmp_path / "part" / "experiments"}',
        f'datasets.train.dataroot_gt={dirs["train_hr"]}', f'datasets.val.dataroot_gt={dirs["val_hr"]}',
        f'datasets.val.dataroot_lq={dirs["val_lq"]}'])
    if energy is not None:
        _anchor(opt)['energy_weight'] = energy
    return opt


def test_partner_options_drop_the_energy_term_and_halve_the_run(tmp_path):
    opt = _opt(tmp_path)
    assert _anchor(opt)['energy_weight'] > 0
    p = partner_options(opt, TEMPLATE)
    assert _anchor(p)['energy_weight'] == 0.0
    assert p['train']['total_iter'] == round(FITTED_PARTNER[TEMPLATE.name]['fraction'] * 300) == 150
    assert p['val'] is None and p['logger']['save_checkpoint_freq'] == 150
    assert p['path']['experiments_root'] == str(tmp_path / 'part' / 'partner' / 'experiments')
    # everything else is the run's own: the fitted recipe's other anchor terms, the data, the seed
    assert _anchor(p)['high_weight'] == _anchor(opt)['high_weight']
    assert p['datasets'] == opt['datasets'] and p.get('manual_seed') == opt.get('manual_seed')
    assert _anchor(opt)['energy_weight'] > 0 and opt['train']['total_iter'] == 300  # not touched
    from realesrgan_paddle.training.option_file import validate_options
    validate_options(p, 'the partner')


def test_no_partner_without_an_energy_term_or_a_template_entry(tmp_path):
    assert partner_options(_opt(tmp_path, energy=0.0), TEMPLATE) is None
    assert partner_options(_opt(tmp_path), OPTIONS / 'finetune_domain_x4plus_lowband_cpu.yml') is None
    assert partner_options(_opt(tmp_path, total=1), TEMPLATE)['train']['total_iter'] == 1


def _s(psnr, detail, niqe=6.0, ssim=0.8):
    return {'psnr': psnr, 'ssim': ssim, 'detail': detail, 'niqe': niqe}


W = [0.0, 0.25, 0.5, 0.75, 1.0]


def _real(points, bicubic, base):
    return {'paired': True, 'summary': dict({S.blend_name(w): s for w, s in zip(W, points)}, bicubic=bicubic,
                                            base=base)}


def test_rule_with_a_partner_judges_weight_0_and_keeps_above_bicubic():
    """The reversed demo's bikes clip, in its shape: the finetune (w 1) has the best score but is below bicubic's
    PSNR on the real frames; the guard leaves it out and the best blend above bicubic wins."""
    base = _s(31.09, 0.47, 10.61)
    pts = [_s(32.44, 0.48, 8.71), _s(32.40, 0.62, 8.81), _s(32.31, 0.92, 8.61), _s(32.18, 1.39, 8.27),
           _s(32.02, 2.07, 8.09)]
    summary = {S.blend_name(w): s for w, s in zip(W, pts)}
    w, table, reason = S.choose_weight(summary, W, base, partner=True)  # no real frames: no guard
    assert 'dni_0.00' in table and w == 0.5
    w, table, reason = S.choose_weight(summary, W, base, _real(pts, _s(32.34, 0.11, 10.08), base), partner=True)
    assert w == 0.25 and '(3 below it left out)' in reason and "bicubic's PSNR 32.34 dB" in reason
    # the partner itself can win: nothing else above bicubic
    w, _, reason = S.choose_weight(summary, W, base, _real(pts, _s(32.42, 0.11, 10.08), base), partner=True)
    assert w == 0.0 and '(4 below it left out)' in reason
    # none above bicubic: the guard says so and takes no part
    w, _, reason = S.choose_weight(summary, W, base, _real(pts, _s(33.0, 0.11, 10.08), base), partner=True)
    assert w == 0.5 and 'none above bicubic' in reason
    # without a partner weight 0 is the base, never a candidate, and the guard works the same
    w, table, _ = S.choose_weight(summary, W, base, _real(pts, _s(32.34, 0.11, 10.08), base))
    assert 'dni_0.00' not in table and w == 0.25


def test_guard_takes_the_base_when_it_is_above_bicubic():
    """Bikes alone with anchor energy 10, in its shape (docs/experiments/degradation_fit_runs.md, "How firm the margins are"): the
    finetune (w 1) has the best score, trading 0.03 dB below the base for NIQE; the base is above bicubic on the
    real frames, so the guard measures against the base and the 0.75 blend, above it, is exported."""
    base = _s(27.53, 0.17, 8.43, ssim=0.7646)
    pts = [_s(28.02, 0.15, 8.19, ssim=0.7709), _s(27.93, 0.31, 7.64, ssim=0.7711), _s(27.79, 0.48, 6.88, ssim=0.7673),
           _s(27.64, 0.70, 5.98, ssim=0.7624), _s(27.50, 0.95, 5.55, ssim=0.7567)]
    summary = {S.blend_name(w): s for w, s in zip(W, pts)}
    w, table, _ = S.choose_weight(summary, W, base, {'paired': False, 'summary': {}}, partner=True)
    assert w == 1.0 and table['dni_1.00']['passes'] and table['dni_1.00']['dpsnr'] < 0  # no guard: the trade wins
    w, _, reason = S.choose_weight(summary, W, base, _real(pts, _s(27.33, 0.04, 8.20), base), partner=True)
    assert w == 0.75 and "above the base's PSNR 27.53 dB" in reason and '(1 below it left out)' in reason
    # bicubic above the base: bicubic is the reference, and the phrase names it
    w, _, reason = S.choose_weight(summary, W, base, _real(pts, _s(27.70, 0.04, 8.20), base), partner=True)
    assert w == 0.5 and "above bicubic's PSNR 27.70 dB" in reason
    # no winner above the base (27.90 here): the lower reference, bicubic, still guards
    hi = _s(27.60, 0.04, 8.20)
    real = _real(pts, _s(27.55, 0.04, 8.20), hi)
    assert S.psnr_guard([0.5, 0.75, 1.0], dict(real, summary=dict(real['summary'], base=_s(27.90, 0.1, 8.4)))) == (
        [0.5, 0.75], " and stay above bicubic's PSNR 27.55 dB on the real LQ frames (1 below it left out)"
                     " (none above the base's PSNR 27.90 dB on the real LQ frames)")
    # above neither: all of them, and the phrase names both
    assert S.psnr_guard([1.0], real) == ([1.0], " (none above the base's PSNR 27.60 dB on the real LQ frames; "
                                                "none above bicubic's PSNR 27.55 dB on the real LQ frames)")
    # unpaired real frames have no PSNR: no guard
    real = _real(pts, _s(27.33, 0.04, 8.20), base)
    real['paired'] = False
    assert S.psnr_guard([0.75, 1.0], real) == ([0.75, 1.0], '')


def test_rule_with_a_partner_falls_back_to_the_chosen_checkpoint():
    base = _s(25.0, 0.5, 6.0)
    pts = [_s(24.0, 0.5), _s(23.8, 0.6), _s(23.5, 1.0), _s(23.2, 1.0), _s(23.0, 1.0)]
    w, _, reason = S.choose_weight({S.blend_name(x): s for x, s in zip(W, pts)}, W, base, partner=True)
    assert w == 1.0 and 'within the limits, so weight 1, the chosen checkpoint; the closest, dni_' in reason, reason


def test_frontier_rows_hold_the_partner_as_a_blend_and_mark_it(tmp_path):
    from realesrgan_paddle.pipeline.report.frontier import COL, draw, frontier_rows
    summ = {'bicubic': _s(27.0, 0.01, 8.0), 'base': _s(26.0, 0.1, 9.0), 'finetuned': _s(27.5, 0.8, 6.0)}
    dni = {'finetune': 'iter_4', 'weights': W, 'other': 'partner', 'summary': {S.blend_name(w): _s(27.8 - w / 3, 0.2 + w)
                                                                                for w in W}}
    res = {'dni': dni, 'summary': summ, 'models': {m: m for m in summ},
           'selection': {'candidates': {'iter_4': 4}, 'summary': {'base': summ['base'], 'iter_4': summ['finetuned']}}}
    rows = frontier_rows(res, {'weight': 0.0})
    names = [r[COL['point']] for r in rows]
    assert names == ['bicubic', 'base', 'iter_4', 'dni_0.00', 'dni_0.25', 'dni_0.50', 'dni_0.75']
    assert [r[COL['point']] for r in rows if r[COL['exported']]] == ['dni_0.00']
    fig = draw(rows, tmp_path / 'f.png', None, 'iter_4')
    # the blends' line starts at the partner, not at the base
    lines = [ln for ln in fig.axes[1].get_lines() if ln.get_color() == 'tab:orange']
    assert len(lines) == 1 and list(lines[0].get_ydata()) == [rows[3][COL['PSNR']], *[r[COL['PSNR']] for r in rows[4:]],
                                                              summ['finetuned']['psnr']]


def test_partner_iterations_are_bounded_and_a_budget_holds_both_runs():
    from realesrgan_paddle.pipeline.train.recipes import main_iters, partner_iters
    entry = FITTED_PARTNER[TEMPLATE.name]
    assert [partner_iters(entry, n) for n in (1, 4, 300, 600, 5000)] == [1, 2, 150, 150, 150]
    for affordable in (1, 2, 3, 10, 299, 450, 451, 1000):
        n = main_iters(entry, affordable)
        assert n >= 1 and (n + partner_iters(entry, n) <= affordable or n == 1)
        assert n == 1 or (n + 1) + partner_iters(entry, n + 1) > affordable  # the largest that fits
    assert main_iters(entry, 450) == 300 and main_iters(entry, 1000) == 850
