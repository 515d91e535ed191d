"""Degradations, datasets and the dataset builder. Importing the package itself loads nothing."""

# The keys of a dataset section that belong to the loader, not to the dataset: the ones the trainer reads
# (training/data_setup.py), then BasicSR's loader keys that have no effect here (training/basicsr_compat.py
# warns about those). Datasets accept both; the options check accepts LOADER_KEYS besides each dataset's KEYS.
LOADER_KEYS = ('name', 'type', 'phase', 'use_shuffle', 'num_worker_per_gpu', 'batch_size_per_gpu',
               'dataset_enlarge_ratio')
BASICSR_LOADER_KEYS = ('io_backend', 'prefetch_mode', 'pin_memory', 'persistent_workers')
