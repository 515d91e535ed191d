"""GAN losses: vanilla (BCE on logits, Real-ESRGAN's choice), LSGAN, WGAN, hinge."""
import paddle.nn as nn
import paddle.nn.functional as F

from .registry import register_loss

GAN_TYPES = ('vanilla', 'lsgan', 'wgan', 'wgan_softplus', 'hinge')


def gan_loss(logits, target_is_real, gan_type='vanilla', is_disc=False, real_label_val=1.0, fake_label_val=0.0):
    """Adversarial loss of discriminator output ``logits`` (unweighted).

    ``target_is_real`` says whether the input should be judged real.
    ``is_disc`` selects the discriminator form of the hinge loss.
    """
    if gan_type not in GAN_TYPES:
        raise ValueError(f'gan_type must be one of {GAN_TYPES}, got {gan_type!r}')
    if gan_type == 'hinge':
        if is_disc:
            x = -logits if target_is_real else logits
            return F.relu(1 + x).mean()
        return -logits.mean()
    if gan_type == 'wgan':
        return -logits.mean() if target_is_real else logits.mean()
    if gan_type == 'wgan_softplus':
        return F.softplus(-logits).mean() if target_is_real else F.softplus(logits).mean()
    label = real_label_val if target_is_real else fake_label_val
    if gan_type == 'vanilla':
        # BCE on logits as y*softplus(-x) + (1-y)*softplus(x): Paddle 3.3.1's
        # binary_cross_entropy_with_logits has a wrong gradient at x == 0 (-1.5 instead of -0.5)
        return (label * F.softplus(-logits) + (1.0 - label) * F.softplus(logits)).mean()
    return ((logits - label) ** 2).mean()


@register_loss(target='gan', log='gan')
class GANLoss(nn.Layer):
    """``loss_weight`` applies to the generator side only (as in BasicSR)."""
    OPTION_CHOICES = {'gan_type': GAN_TYPES}

    def __init__(self, gan_type='vanilla', real_label_val=1.0, fake_label_val=0.0, loss_weight=1.0):
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise ValueError(f'gan_type must be one of {GAN_TYPES}, got {gan_type!r}')
        self.gan_type = gan_type
        self.real_label_val = float(real_label_val)
        self.fake_label_val = float(fake_label_val)
        self.loss_weight = float(loss_weight)

    def forward(self, logits, target_is_real, is_disc=False):
        loss = gan_loss(logits, target_is_real, self.gan_type, is_disc, self.real_label_val, self.fake_label_val)
        return loss if is_disc else loss * self.loss_weight
