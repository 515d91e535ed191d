"""The loader keys of a ``datasets:`` section, with their defaults: the keys ``training.data_setup``'s
loaders read from the section, which the options schema (``training.schema``) accepts beside the
dataset's own keys and fills in."""
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class LoaderOptions:
    """The keys of a ``datasets:`` section that the loader and the pair maker read, not the dataset
    (``training.schema`` accepts them beside the dataset's own keys, with these defaults)."""
    name: Optional[str] = None
    phase: Optional[str] = None               # set from the section: train or val
    batch_size_per_gpu: int = 1
    num_worker_per_gpu: int = 0
    use_shuffle: bool = True
    dataset_enlarge_ratio: int = 1
    gt_size: Optional[int] = None              # the pair maker's crop after the degradation
