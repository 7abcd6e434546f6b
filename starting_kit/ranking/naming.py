"""How a submission is named in tables and reports (no heavy imports: the CLI uses it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

#: Suffixes left out of a submission's name.
NAME_SUFFIXES = (".zip", ".npz")


def display_name(path: Path) -> str:
    """A submission's name: its file or folder stem.

    >>> display_name(Path("runs/unet.zip")), display_name(Path("runs/unet"))
    ('unet', 'unet')
    """
    name = path.name or str(path)
    for suffix in NAME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def display_names(paths: Sequence[Path]) -> list[str]:
    """Name each input by its stem; where stems repeat, add the parent folder, then the suffix,
    then give the path as written; the same path twice is numbered.

    >>> display_names([Path("a/run.zip"), Path("b/run.npz"), Path("c/other")])
    ['a/run', 'b/run', 'other']
    >>> display_names([Path("x/a.npz"), Path("x/a")])
    ['x/a.npz', 'x/a']
    >>> display_names([Path("a.zip"), Path("a.zip")])
    ['a.zip #1', 'a.zip #2']
    >>> display_names([Path("a.npz"), Path("d2/a.npz")])
    ['a', 'd2/a']
    """
    candidates = [
        [display_name(p) for p in paths],
        [_under_parent(p, display_name(p)) for p in paths],
        [_under_parent(p, p.name) for p in paths],
        [str(p) for p in paths],
    ]
    names = candidates[0]
    for level in candidates[1:]:
        repeated = {name for name in names if names.count(name) > 1}
        if not repeated:
            break
        names = [
            better if name in repeated else name for name, better in zip(names, level, strict=True)
        ]
    # The same input given twice (a sanity check): number the repeats.
    return [
        f"{name} #{names[:i].count(name) + 1}" if names.count(name) > 1 else name
        for i, name in enumerate(names)
    ]


def _under_parent(path: Path, name: str) -> str:
    """``name`` after the parent folder's name; alone for a path without one (``a.npz``), never
    ``/a``, which reads as an absolute path."""
    return f"{path.parent.name}/{name}" if path.parent.name else name
