"""Resumable video upscaling in segments: the plan and the join (``plan.py``), the work folder ``OUT.parts/``
(``work_folder.py``) and its check of a finished segment (``file_check.py``), the run of a span of segments
(``span_run.py``) and the end-to-end driver (``resumable.py``)."""
