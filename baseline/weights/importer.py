"""``baseline import-weights``: detect the family, convert, check against flair-kit's network, write.

The written checkpoint is an ordinary flair-kit checkpoint (``predict``, ``map`` and the zone
context load it like any other) with a ``contract`` (:mod:`baseline.contract`) whose provenance
names the source file and its sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import torch

from baseline.areas import file_sha256
from baseline.checkpoint import imported_payload, save_checkpoint, sentinel_pipeline
from baseline.choices import WEIGHTS_SOURCES, WeightsSource
from baseline.contract import ModelContract, check_contract
from baseline.inference import build_declared
from baseline.weights import flair_hub, flair_inc, ign_flair1, ign_flair2
from baseline.weights.layout import (
    REPORT_HINT,
    Imported,
    ImportOptions,
    Shapes,
    describe,
    layout_mismatch,
    shapes_of,
    with_prefix,
)
from baseline.weights.readers import Source, read_source
from scoring.atomic import check_outputs_apart, make_parent_folder
from scoring.errors import ConfigError, OutputExistsError
from starting_kit import __version__

#: The families, in the order ``auto`` tries them. FLAIR-HUB comes last: some of its markers
#: (ConvNeXtV2's GRN, Swin's bias tables) also occur in smp models with timm encoders, which are
#: FLAIR-INC-like smp layouts; a FLAIR-HUB file is never an smp layout (``main_decoders.*``).
FAMILIES: dict[str, ModuleType] = {
    module.NAME: module for module in (ign_flair2, ign_flair1, flair_inc, flair_hub)
}
#: What a file of each family that ``--from`` can force is, for the hint of a refusal.
FORCED_FAMILIES = {
    ign_flair1.NAME: "an IGN FLAIR #1 checkpoint",
    ign_flair2.NAME: "an IGN FLAIR #2 checkpoint",
    flair_inc.NAME: "a FLAIR-INC smp model",
}
#: Families whose conversion (:mod:`baseline.ign_layout`) takes IGN's keys as the file has them,
#: ``model.`` included, so that its refusals name them that way.
FILE_KEYS_FAMILIES = (ign_flair1.NAME, ign_flair2.NAME)


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_weights` wrote.

    Attributes:
        output: the flair-kit checkpoint.
        family: the source family (detected or given).
        tensors: tensors written.
        sha256: of the source file.
        contract: the declared bands, normalisation, classes and crosswalk.
    """

    output: Path
    family: str
    tensors: int
    sha256: str
    contract: ModelContract


def detect_family(shapes: Shapes, path: Path) -> str:
    """The first family whose ``detect`` accepts the keys.

    Raises:
        ConfigError: no family knows the layout; the first keys and shapes are printed.
    """
    for name, module in FAMILIES.items():
        if module.detect(shapes):
            return name
    raise ConfigError(
        f"{path}: unknown weights layout ({len(shapes)} tensors; first: {describe(shapes)}); "
        "flair-kit imports IGN's FLAIR #1 (model.seg_model.*) and FLAIR #2 (model.arch_vhr.*, "
        "model.arch_hr.*) checkpoints and FLAIR-INC smp models (encoder.*, decoder.*, "
        f"segmentation_head.*, optionally under seg_model.); pass --from to force one, or "
        f"{REPORT_HINT}"
    )


def expected_shapes(imported: Imported) -> Shapes:
    """Key -> shape of the network that ``predict`` will build for this checkpoint.

    Built on the meta device (no memory, no time) where the network allows it.
    """
    try:
        with torch.device("meta"):
            network = build_declared(imported.config, imported.contract)
    except (RuntimeError, NotImplementedError):  # MiT encoders call .item() while building
        network = build_declared(imported.config, imported.contract)
    return shapes_of(network.state_dict())


def conversion_refusal(exc: ConfigError, path: Path, name: str, *, forced: bool) -> ConfigError:
    """A family's refusal with the file named and, when ``--from`` forced the family, the hint
    that the file may be of another family.

    >>> str(conversion_refusal(ConfigError("IGN FLAIR #2 weights: 3 key(s) match no known "
    ...     "layer"), Path("w.ckpt"), "ign-flair2", forced=True))
    'w.ckpt: IGN FLAIR #2 weights: 3 key(s) match no known layer; if w.ckpt is not an IGN FLAIR #2 checkpoint, try --from auto (detection from the keys)'
    """
    text = str(exc)
    if not text.startswith(str(path)):
        text = f"{path}: {text}"
    if forced and name in FORCED_FAMILIES:
        text += (
            f"; if {path.name} is not {FORCED_FAMILIES[name]}, try --from auto (detection from "
            "the keys)"
        )
    return ConfigError(text)


def convert_source(
    source: Source, family: WeightsSource, options: ImportOptions
) -> tuple[str, Imported]:
    """Convert a read file with the given (or detected) family and check it fits the network.

    Returns:
        The family's name and the converted model.

    Raises:
        ConfigError: unknown layout, a missing fact (naming its option), or converted weights
            that do not fit (first unmatched keys and shapes on both sides).
    """
    name = detect_family(shapes_of(source.tensors), source.path) if family == "auto" else family
    module = FAMILIES[name]
    given = source
    if name in FILE_KEYS_FAMILIES:
        given = replace(source, tensors=with_prefix(source.tensors, source.prefix))
    try:
        imported: Imported = module.convert(given, options)
    except ConfigError as exc:
        raise conversion_refusal(exc, source.path, name, forced=family != "auto") from None
    check_contract(imported.contract, str(source.path))
    layout_mismatch(
        source.path,
        f"a {imported.contract.variant}",
        expected_shapes(imported),
        shapes_of(imported.state),
        f"check --from, --arch and --encoder, or {REPORT_HINT}",
    )
    return name, imported


def import_weights(
    src: Path,
    output: Path,
    *,
    family: WeightsSource = "auto",
    options: ImportOptions | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Read IGN's weights from ``src`` and write a flair-kit checkpoint to ``output``.

    Raises:
        MissingFileError, DataError: no file, or one that cannot be read without running code.
        ConfigError: see :func:`convert_source`.
        OutputExistsError: ``output`` exists and ``overwrite`` is False.
    """
    if family not in WEIGHTS_SOURCES:
        raise ConfigError(f"--from {family!r}; expected one of {', '.join(WEIGHTS_SOURCES)}")
    if output.exists() and not overwrite:
        raise OutputExistsError(f"{output}: exists; pass --overwrite or choose another --output")
    check_outputs_apart({"--output": output}, [src])  # links followed, loops included
    source = read_source(src)
    name, imported = convert_source(source, family, options or ImportOptions())
    sha256 = file_sha256(src)
    contract = replace(
        imported.contract,
        provenance={
            "source": src.name,
            "sha256": sha256,
            "family": name,
            "imported_by": f"flair-kit {__version__}",
            **({"epoch": str(source.epoch)} if source.epoch is not None else {}),
        },
        sentinel=sentinel_pipeline(imported.config),
    )
    make_parent_folder(output)
    save_checkpoint(output, imported_payload(imported.state, imported.config, contract))
    return ImportResult(output, name, len(imported.state), sha256, contract)


def render_import_result(result: ImportResult) -> str:
    """The summary the command line prints after an import."""
    contract = result.contract
    classes = len(contract.classes) - len(contract.inactive)
    lines = [
        f"imported {result.family} weights ({result.tensors} tensors, sha256 {result.sha256[:12]}...)",
        f"model: {contract.variant}",
        f"input: bands {'-'.join(contract.bands)} (FLAIR bands {contract.flair_indices}), "
        f"normalisation {contract.normalisation}, {contract.resolution_m:g} m pixels"
        + (f", metadata ({contract.metadata_encoding})" if contract.metadata_encoding else ""),
        (
            f"classes: {classes} active of {len(contract.classes)} logits; predict writes the "
            "13 challenge classes through the crosswalk"
        ),
        *(
            [f"Sentinel-2: {', '.join(f'{k} {v}' for k, v in contract.sentinel.items())}"]
            if contract.sentinel is not None
            else []
        ),
        *(f"note: {note}" for note in contract.ambiguous),
        f"checkpoint: {result.output}",
    ]
    return "\n".join(lines) + "\n"
