"""Training losses: pixel (L1/MSE), VGG19 perceptual, GAN, detail (frequency/gradient), LDL artefact weighting,
self-anchoring to the base model's own output,
consistency of the re-degraded output with real LQ input, stability under a fresh draw of the input's noise."""
from .anchor import ChromaBandLoss, SelfAnchorLoss, chroma_band_loss, self_anchor_loss
from .consistency import ConsistencyLoss, consistency_loss
from .correlation import BandCorrelationLoss, band_correlation_loss, local_band_correlation
from .frequency import (FFTAmplitudeLoss, GradientLoss, HFEnergyLoss, LowPassL1Loss, SubpixelGridLoss,
                        fft_amplitude_loss, gradient_loss, hf_energy_loss, lowpass_l1_loss, subpixel_grid_loss)
from .gan import GANLoss, gan_loss
from .lattice import LatticeLoss, lattice_excess, lattice_loss
from .ldl import LDLLoss, artifact_map, ldl_loss
from .nyquist import NyquistExcessLoss, nyquist_amplitude, nyquist_excess_loss
from .perceptual import PerceptualLoss, VGGWeightsMissing, perceptual_loss
from .pixel import L1Loss, MSELoss, l1_loss, mse_loss
from .stability import StabilityLoss, stability_loss
from .texture import RandomVGGLoss, SlicedWassersteinLoss, sliced_wasserstein_loss

LOSSES = {c.__name__: c for c in (L1Loss, MSELoss, PerceptualLoss, GANLoss, HFEnergyLoss, FFTAmplitudeLoss,
                                  GradientLoss, LowPassL1Loss, SubpixelGridLoss, LDLLoss, SelfAnchorLoss,
                                  ChromaBandLoss, SlicedWassersteinLoss, RandomVGGLoss, ConsistencyLoss, LatticeLoss,
                                  BandCorrelationLoss, NyquistExcessLoss, StabilityLoss)}


def build_loss(opt, where='loss'):
    """Build a loss from ``{'type': 'L1Loss', **kwargs}``."""
    opt = dict(opt)
    t = opt.pop('type', None)
    if t not in LOSSES:
        raise ValueError(f'{where}.type: unknown loss {t!r}; known: {sorted(LOSSES)}')
    return LOSSES[t](**opt)


__all__ = ['GANLoss', 'gan_loss', 'PerceptualLoss', 'VGGWeightsMissing', 'perceptual_loss', 'L1Loss', 'MSELoss',
           'l1_loss', 'mse_loss', 'LOSSES', 'build_loss', 'HFEnergyLoss', 'FFTAmplitudeLoss', 'GradientLoss',
           'hf_energy_loss', 'fft_amplitude_loss', 'gradient_loss', 'LowPassL1Loss', 'lowpass_l1_loss', 'SubpixelGridLoss', 'subpixel_grid_loss', 'LDLLoss',
           'artifact_map', 'ldl_loss', 'SelfAnchorLoss', 'self_anchor_loss', 'ChromaBandLoss', 'chroma_band_loss',
           'RandomVGGLoss', 'SlicedWassersteinLoss', 'sliced_wasserstein_loss', 'ConsistencyLoss',
           'consistency_loss', 'LatticeLoss', 'lattice_excess', 'lattice_loss', 'BandCorrelationLoss',
           'band_correlation_loss', 'local_band_correlation', 'NyquistExcessLoss', 'nyquist_amplitude',
           'nyquist_excess_loss', 'StabilityLoss', 'stability_loss']
