"""Assemble a competition bundle zip for CodaLab v1 or Codabench."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from scoring.atomic import check_target, scratch_directory
from scoring.errors import ConfigError, MissingFileError
from starting_kit.bundle.archive import (
    Source,
    reference_entries,
    scoring_program_entries,
    write_atomically,
    write_zip,
)
from starting_kit.bundle.description import CompetitionDescription
from starting_kit.bundle.dialects import (
    LOGO_FILE,
    PROGRAM_FILE,
    REFERENCE_FILE,
    YAML_FILE,
    codabench_yaml,
    codalab_yaml,
    dump_yaml,
)
from starting_kit.bundle.logo import render_logo
from starting_kit.bundle.pages import render_pages

#: Platform names the builder and the checker know.
PLATFORMS = ("codalab", "codabench")


@dataclass(frozen=True)
class BundleSummary:
    """What :func:`build_bundle` wrote."""

    path: Path
    platform: str
    reference_masks: int
    size_bytes: int
    sha256: str


def competition_yaml_text(desc: CompetitionDescription, platform: str) -> str:
    """The ``competition.yaml`` text of a platform.

    Raises:
        ConfigError: an unknown platform.
    """
    if platform == "codalab":
        return dump_yaml(codalab_yaml(desc))
    if platform == "codabench":
        return dump_yaml(codabench_yaml(desc))
    raise ConfigError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        for chunk in iter(lambda: reader.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_bundle(
    desc: CompetitionDescription,
    reference: Path,
    output: Path,
    *,
    platform: str,
    overwrite: bool = False,
) -> BundleSummary:
    """Write a complete bundle: yaml, logo, four pages, scoring program and reference data.

    The same description, reference masks and platform always give the same bytes.

    Args:
        desc: the competition.
        reference: folder of ``MSK_<id>.tif`` masks, searched recursively and stored flat.
        output: the bundle zip to write (``.zip``).
        platform: ``"codalab"`` (CodaLab Competitions v1) or ``"codabench"``.
        overwrite: replace an existing ``output``.

    Raises:
        ConfigError: unknown platform or an output name without ``.zip``.
        DataError, MissingFileError: see :func:`~starting_kit.bundle.archive.reference_entries`.
        OutputExistsError: ``output`` exists and ``overwrite`` is false.
    """
    yaml_text = competition_yaml_text(desc, platform)
    if output.suffix.lower() != ".zip":
        raise ConfigError(f"{output}: a bundle is uploaded as a .zip; name the output *.zip")
    check_target(output)  # a folder or a FIFO is refused before any work, and never opened
    references = reference_entries(reference)
    if not output.parent.is_dir():
        raise MissingFileError(f"{output.parent}: output folder not found; create it first")
    with scratch_directory(output) as scratch:
        program_zip = Path(scratch, PROGRAM_FILE)
        reference_zip = Path(scratch, REFERENCE_FILE)
        write_zip(program_zip, scoring_program_entries())
        write_zip(reference_zip, references)
        entries: list[tuple[str, Source]] = [
            (YAML_FILE, yaml_text.encode("utf-8")),
            (LOGO_FILE, render_logo(desc.dataset.edition)),
            (PROGRAM_FILE, program_zip),
            (REFERENCE_FILE, reference_zip),
        ]
        entries += [(name, text.encode("utf-8")) for name, text in render_pages(desc).items()]
        write_atomically(output, entries, overwrite=overwrite)
    return BundleSummary(output, platform, len(references), output.stat().st_size, _sha256(output))
