"""The loader keys of a ``datasets:`` section: the keys ``training.data_setup``'s loaders and pair maker
read from the section, not the dataset. ``training.schema`` accepts them beside the dataset's own keys
and fills in their defaults; where a dataset takes a key of the same name (``PairedImageDataset``'s
``gt_size``), these limits apply to it too."""
from .fields import Field

# the pair maker's crop after the degradation (GT pixels); also a top-level option
# (``training.option_file.SCHEMA``, BasicSR's place for it), where it wins over the dataset section's
GT_SIZE = Field('int', None, min=1)
# one batch: 20x the published 12 per GPU; 1000000000 went past 3 GiB in 23 s before any check (issue 64, O07)
MAX_BATCH = 256

LOADER = {
    'name': Field('str', None),
    'phase': Field('str', None),  # set from the section: train or val
    'batch_size_per_gpu': Field('int', 1, min=1, max=MAX_BATCH),
    'num_worker_per_gpu': Field('int', 0, min=0, max=64),
    'use_shuffle': Field('bool', True),
    'dataset_enlarge_ratio': Field('int', 1, min=1),
    'gt_size': GT_SIZE,
}
