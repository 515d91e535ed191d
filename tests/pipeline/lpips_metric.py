"""An LPIPS metric for the tests of the choice's wiring (tests/pipeline/test_select_lpips.py, test_sharpen_choice.py)."""


def lpips_metric():
    """The project's LPIPS (AlexNet) with the zoo's weights when evaluation.iqa finds them, else its own random init:
    the wiring is what is tested here, not the metric's values."""
    import paddle

    from realesrgan_paddle.evaluation import iqa
    from realesrgan_paddle.models.feature_nets.iqa_nets import LPIPS
    found, _ = iqa.available()
    if 'lpips' in found:
        return found['lpips']
    paddle.seed(0)
    net = LPIPS('alex')
    for name, p in net.named_parameters():  # LPIPS's linear layers are non-negative (its training clamps them):
        if name.startswith('lin'):           # random ones of either sign can sum to a negative distance
            p.set_value(p.abs())
    net.eval()
    return iqa.Metric('lpips', net)
