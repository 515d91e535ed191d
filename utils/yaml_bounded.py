"""YAML read with a bound on alias expansion.

``yaml.safe_load`` builds an alias as a second reference to the same object, so
a "billion laughs" file (each level a list of aliases of the level before) loads
in microseconds and then blows up whatever walks the result: checking an option,
printing it, copying it or dumping it again took 30 s and all the memory. Here
the node graph is composed first and its size, with every alias counted as the
nodes it stands for, is added up before anything is built: beyond
``MAX_YAML_NODES`` the text is refused with a ``yaml.YAMLError``.
"""
import yaml

MAX_YAML_NODES = 100_000  # the largest training option file here has about 400 nodes


class YAMLTooLarge(yaml.YAMLError):
    """The document expands (aliases counted each time they occur) to more than MAX_YAML_NODES nodes."""


def _expanded(node, sizes, limit):
    got = sizes.get(id(node))
    if got is not None:
        return got
    sizes[id(node)] = limit + 1  # a cycle (an alias inside its own anchor) counts as unbounded
    got = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = ()
    for child in children:
        got = min(limit + 1, got + _expanded(child, sizes, limit))
        if got > limit:
            break
    sizes[id(node)] = got
    return got


def safe_load_bounded(text, max_nodes=MAX_YAML_NODES):
    """``yaml.safe_load(text)``, refused (``YAMLTooLarge``) when aliases expand it past ``max_nodes`` nodes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded(node, {}, max_nodes) > max_nodes:
            raise YAMLTooLarge(f'aliases expand it to more than {max_nodes} values (an alias bomb?)')
        return loader.construct_document(node)
    finally:
        loader.dispose()
