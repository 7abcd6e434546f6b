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
    """Name each input by its stem, with its parent folder where stems repeat.

    >>> display_names([Path("a/run.zip"), Path("b/run.npz"), Path("c/other")])
    ['a/run', 'b/run', 'other']
    """
    stems = [display_name(path) for path in paths]
    return [
        f"{path.parent.name}/{stem}" if stems.count(stem) > 1 else stem
        for path, stem in zip(paths, stems, strict=False)
    ]
