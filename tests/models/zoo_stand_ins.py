"""Stand-ins for the zoo's cache files, as this program writes them (an entry of the store, kind ``weights``, with
the facts ``models.zoo.weights_facts`` records): random weights of the entry's own architecture, with the entry's
name (and the sha256 of the release file it pins) in the meta. A test that needs a zoo name to resolve offline plants
one of these; a file without its record, or whose record says another arch, is what the store refuses."""
import numpy as np

from realesrgan_paddle import models, store
from realesrgan_paddle.checkpoint_io.state_file import save_checkpoint
from realesrgan_paddle.models import zoo


def zoo_state(entry, seed=0):
    """Random weights (float32, small) of ``entry``'s architecture."""
    rng = np.random.default_rng(seed)
    net = models.build_network(entry.arch)
    return {k: (0.05 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in net.state_dict().items()}


def plant_zoo_file(name, seed=0, imported=False, state=None):
    """Write a stand-in for zoo entry ``name``'s cached file (the one converted from the release, or with
    ``imported`` the one imported from its wheel); returns ``(path, state)``."""
    entry = zoo.get_entry(name)
    path = zoo.cached_paths(entry)[1 if imported else 0]
    state = zoo_state(entry, seed) if state is None else state
    meta = {'name': entry.name, 'source': 'ncnn'} if imported else {'name': entry.name, 'sha256': entry.sha256}
    store.write('weights', path.parent.name,
                lambda d: save_checkpoint(d / path.name, params=state, arch=entry.arch, meta=meta),
                zoo.weights_facts(entry, not imported))
    return path, state
