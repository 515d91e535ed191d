"""Segments run as Ray tasks (``ray_runner.py``): a local cluster (``ray_local.py``, its watchdog
``ray_watch.py``) or a cluster address probed before Ray connects (``ray_probe.py``)."""
