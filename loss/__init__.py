"""Training losses: pixel (L1/MSE), VGG19/VGG16 perceptual, LPIPS, GAN, detail (frequency/gradient), LDL artefact weighting,
self-anchoring to a frozen teacher's output (its low band to the GT, its high band, band energy and colour band to
the teacher), consistency of the re-degraded output with real LQ input, stability under a fresh draw of the input's
noise, temporal agreement of the outputs on consecutive real LQ frames moved by their motion.

Each loss class carries ``@register_loss(...)`` (loss/registry.py): that is all a new loss needs to be a
``type:`` of ``train.losses``. The modules below are imported here, so ``LOSSES`` holds every loss of the project.
"""
from .registry import LOSS_REGISTRY, Weights, register_loss, unregister_loss
from .anchor import ChromaBandLoss, HighBandL1Loss, SelfAnchorLoss, chroma_band_loss, high_band_l1_loss
from .consistency import ConsistencyLoss, consistency_loss
from .frequency import (FFTAmplitudeLoss, GradientLoss, HFEnergyLoss, LowPassL1Loss, SubpixelGridLoss,
                        fft_amplitude_loss, gradient_loss, hf_energy_loss, lowpass_l1_loss, subpixel_grid_loss)
from .gan import GANLoss, gan_loss
from .ldl import LDLLoss, artifact_map, ldl_loss
from .lpips_loss import LPIPSLoss
from .perceptual import PerceptualLoss, VGGWeightsMissing, perceptual_loss
from .pixel import L1Loss, MSELoss, l1_loss, mse_loss
from .stability import StabilityLoss, stability_loss
from .temporal_agreement import TemporalLoss, flow_warp, temporal_loss
from .texture import RandomVGGLoss, SlicedWassersteinLoss, sliced_wasserstein_loss

LOSSES = LOSS_REGISTRY  # {type name: class}, filled by the decorators


def build_loss(opt, where='loss'):
    """Build a loss from ``{'type': 'L1Loss', **kwargs}``."""
    opt = dict(opt)
    t = opt.pop('type', None)
    if t not in LOSSES:
        raise ValueError(f'{where}.type: unknown loss {t!r}; known: {sorted(LOSSES)}')
    return LOSSES[t](**opt)


__all__ = ['GANLoss', 'gan_loss', 'PerceptualLoss', 'VGGWeightsMissing', 'perceptual_loss', 'L1Loss', 'MSELoss',
           'l1_loss', 'mse_loss', 'LOSSES', 'LOSS_REGISTRY', 'Weights', 'register_loss', 'unregister_loss',
           'build_loss', 'HFEnergyLoss', 'FFTAmplitudeLoss', 'GradientLoss', 'hf_energy_loss', 'fft_amplitude_loss',
           'gradient_loss', 'LowPassL1Loss', 'lowpass_l1_loss', 'SubpixelGridLoss', 'subpixel_grid_loss', 'LDLLoss',
           'artifact_map', 'ldl_loss', 'LPIPSLoss', 'HighBandL1Loss', 'high_band_l1_loss', 'SelfAnchorLoss', 'ChromaBandLoss',
           'chroma_band_loss', 'RandomVGGLoss', 'SlicedWassersteinLoss', 'sliced_wasserstein_loss', 'ConsistencyLoss',
           'consistency_loss', 'StabilityLoss', 'stability_loss', 'TemporalLoss', 'temporal_loss', 'flow_warp']
