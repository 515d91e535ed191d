"""The image-quality metrics' weights (LPIPS, DISTS and their torchvision backbones): a catalogue of release files
in the model zoo's form (``models.zoo.ZooEntry``), read by ``evaluation.iqa`` from ``<model cache>/iqa/`` or
torch's hub cache. Light: no paddle.
"""
from realesrgan_paddle.models.zoo import ZooEntry, name_key

# LPIPS v0.1 linear layers and DISTS alpha/beta: their authors publish no hash; the values are of the
# files in the lpips 0.1.4 / DISTS_pytorch 0.1 wheels on PyPI, and independent projects pin the same
# values. torchvision backbones: the published values (their names carry the first 8 digits).
_LPIPS = 'https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1'
IQA_ENTRIES = (
    ZooEntry('lpips-alex-v0.1', f'{_LPIPS}/alex.pth',
             'df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0', 6009,
             {'type': 'LPIPS', 'net': 'alex'}, None, None, ('lpips-alex', 'lpips'), None,
             'LPIPS v0.1 linear layers on AlexNet', {'file': 'lpips_v0.1_alex.pth', 'backbone': 'alexnet'}),
    ZooEntry('lpips-vgg-v0.1', f'{_LPIPS}/vgg.pth',
             'a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868', 7289,
             {'type': 'LPIPS', 'net': 'vgg'}, None, None, ('lpips-vgg',), None,
             'LPIPS v0.1 linear layers on VGG16', {'file': 'lpips_v0.1_vgg.pth', 'backbone': 'vgg16'}),
    ZooEntry('dists', 'https://github.com/dingkeyan93/DISTS/raw/master/DISTS_pytorch/weights.pt',
             'f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218', 12288,
             {'type': 'DISTS'}, None, None, ('dists-weights',), None,
             'DISTS alpha/beta on an L2-pooled VGG16', {'file': 'dists_weights.pt', 'backbone': 'vgg16'}),
    ZooEntry('alexnet', 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth',
             '7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02', 244408911,
             {'type': 'AlexNet'}, None, None, ('alexnet-owt-7be5be79',), None, 'torchvision ImageNet AlexNet'),
    ZooEntry('vgg16', 'https://download.pytorch.org/models/vgg16-397923af.pth',
             '397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0', 553433881,
             {'type': 'VGG16'}, None, None, ('vgg16-397923af',), None, 'torchvision ImageNet VGG16'),
)


def get_iqa_entry(name):
    """The ``ZooEntry`` of an image-quality metric's weights (LPIPS, DISTS, their backbones)."""
    for e in IQA_ENTRIES:
        if name_key(name) in {name_key(n) for n in (e.name,) + e.aliases}:
            return e
    raise KeyError(f'unknown metric weights {name!r}; known: {", ".join(e.name for e in IQA_ENTRIES)}')
