"""PyTorch references: an optional room that needs torch, for checking this project's networks against an
independent PyTorch implementation.

``torch_networks``: RRDBNet, SRVGGNetCompact, UNetDiscriminatorSN and VGG19 written in PyTorch with the official
parameter names; ``conversion_check``: ``verify_conversion``, behind ``tools/convert_torch.py --verify``. No room of
the product imports this one (``tests/test_torch_optional.py``): only ``tools/convert_torch.py`` when ``--verify``
is given, the tests and the benchmarks. Importing this package itself needs nothing; its modules need torch.
"""
