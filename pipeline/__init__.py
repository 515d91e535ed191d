"""From domain footage to a finetuned, evaluated and exported model (``tools/finetune_domain.py``)."""
