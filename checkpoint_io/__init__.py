"""The safe checkpoint reader and writer, without torch (security-critical: an untrusted file never runs code).

``state_file``: ``load_state_file`` (``.pth`` zip and legacy, ``.safetensors``, ``.pdparams``), ``pick_params``,
``save_checkpoint`` (atomic); ``unpickler``: the restricted unpickler; ``objects``: its objects and size limits.
Import the submodule you need.
"""
