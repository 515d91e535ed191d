"""The work of the one command's stages (their list is ``pipeline/stage_list.py``): the data stages
(``data.py``), the finetune and export stages (``finetune.py``) and evaluate-and-choose (``judge.py``)."""
