"""Architecture detection from state-dict keys and shapes, and key renaming.

Both ask the registered ``ArchSpec``s (``models.specs``), in registration order:

* ``normalize_state_dict`` strips a DataParallel ``module.`` prefix and lets the
  first spec whose ``rename`` recognises a foreign layout map it onto this
  project's names (which equal the official Real-ESRGAN/BasicSR names): old
  ESRGAN (RRDBNet), torchvision VGG19 ``features.N``, torch's
  ``parametrizations`` spectral-norm names (UNetDiscriminatorSN);
* ``detect_arch`` returns the ``arch`` dict (see docs/DESIGN.md) of the first
  spec whose ``detect`` recognises the keys. What weights cannot show is the
  spec's ``undetectable`` (SRVGGNetCompact's ReLU versus LeakyReLU: ``relu`` is
  assumed; the discriminator's ``skip_connection``: ``True`` is assumed).
"""
from .specs import all_specs


def normalize_state_dict(state):
    """Return ``state`` with keys renamed to this project's names (idempotent)."""
    state = dict(state)
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    for spec in all_specs():
        renamed = spec.rename(state) if spec.rename else None
        if renamed is not None:
            return renamed
    return state


def detect_arch(state):
    """``arch`` dict for a state dict (any supported layout), or ValueError naming what was found."""
    state = normalize_state_dict(state)
    for spec in all_specs():
        arch = spec.detect(state) if spec.detect else None
        if arch is not None:
            return arch
    sample = sorted(state)[:6]
    known = [s.name for s in all_specs() if s.detect]
    raise ValueError(f'unknown network layout: {len(state)} tensors, first keys {sample}; '
                     f'expected the names of {", ".join(known)}')
