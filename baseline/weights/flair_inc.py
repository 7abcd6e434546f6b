"""The FLAIR-INC family: IGN's smp models on Hugging Face (ign-models.md 4.1).

Architectures: smp U-Net with a ResNet34 or MiT-B5 encoder, DeepLabV3 with ResNet34; other
ResNet and MiT sizes are recognised the same way. Bands: 5 (R, G, B, NIR, elevation), 4 (RGBI) or
3 (RGB). Logits: 19 in the FLAIR order (15 or 12 classes active), or 12. Inputs are normalised
per band with IGN's FLAIR-INC means and standard deviations.

The key prefix of the published files could not be checked (no file was downloaded): the
accepted prefixes are those IGN's loaders accept, ``model.seg_model.``, ``seg_model.`` and bare smp
keys (``encoder.``, ``decoder.``, ``segmentation_head.``). Checkpoints saved under smp < 0.4 name
DeepLabV3's decoder parts by position (``decoder.0.`` ASPP, ``decoder.1.`` conv, ``decoder.2.`` BN);
they are renamed to smp 0.6's ``aspp``, ``conv`` and ``bn``.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping

import torch

from baseline.config import DataConfig, ModelConfig, TrainConfig
from baseline.contract import (
    FLAIR_BANDS,
    FLAIR_INC_15_INACTIVE,
    FLAIR_RESOLUTION_M,
    ModelContract,
    first_classes,
    flair19_classes,
    flair_inc_statistics,
)
from baseline.weights.layout import (
    Imported,
    ImportOptions,
    Shapes,
    describe,
    missing_fact,
    shapes_of,
    strip_prefix,
    with_prefix,
)
from baseline.weights.readers import Source
from scoring.classes import CLASS_COLOURS, CLASS_NAMES, NUM_CLASSES, RAW_CLASSES
from scoring.errors import ConfigError

NAME = "flair-inc"
#: The top-level parts of an smp model's state dict.
SMP_PARTS = ("encoder.", "decoder.", "segmentation_head.")
#: Default bands by input channel count.
DEFAULT_BANDS = {5: FLAIR_BANDS, 4: FLAIR_BANDS[:4], 3: FLAIR_BANDS[:3]}
#: ResNet blocks per stage (and bottleneck blocks or not) -> smp encoder name.
RESNETS: dict[tuple[tuple[int, ...], bool], str] = {
    ((2, 2, 2, 2), False): "resnet18",
    ((3, 4, 6, 3), False): "resnet34",
    ((3, 4, 6, 3), True): "resnet50",
    ((3, 4, 23, 3), True): "resnet101",
    ((3, 8, 36, 3), True): "resnet152",
}
#: MiT blocks per stage and first embedding width -> smp encoder name.
MITS: dict[tuple[tuple[int, ...], int], str] = {
    ((2, 2, 2, 2), 32): "mit_b0",
    ((2, 2, 2, 2), 64): "mit_b1",
    ((3, 4, 6, 3), 64): "mit_b2",
    ((3, 4, 18, 3), 64): "mit_b3",
    ((3, 8, 27, 3), 64): "mit_b4",
    ((3, 6, 40, 3), 64): "mit_b5",
}
#: smp < 0.4 names of DeepLabV3's decoder parts -> the later names (smp 0.6's).
OLD_DEEPLAB = {
    "decoder.0.": "decoder.aspp.",
    "decoder.1.": "decoder.conv.",
    "decoder.2.": "decoder.bn.",
}
_CLASS_COUNT = re.compile(r"(?<![0-9])(12|15|19)cl", re.IGNORECASE)


def smp_tensors(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The bare smp state dict (``seg_model.`` stripped), or None when the keys are not smp's."""
    bare = strip_prefix(tensors, "seg_model.")
    if bare and all(key.startswith(SMP_PARTS) for key in bare):
        return bare
    return None


def detect(shapes: Shapes) -> bool:
    """Whether the keys are an smp model's, with or without ``seg_model.``."""
    bare = {k.removeprefix("seg_model.") for k in shapes}
    return bool(bare) and all(key.startswith(SMP_PARTS) for key in bare)


def _stage_depths(shapes: Shapes, pattern: str) -> tuple[int, ...]:
    found = re.compile(pattern)
    counts: Counter[int] = Counter()
    seen = set()
    for key in shapes:
        match = found.match(key)
        if match and (match[1], match[2]) not in seen:
            seen.add((match[1], match[2]))
            counts[int(match[1])] += 1
    return tuple(counts[i] for i in sorted(counts))


def infer_encoder(shapes: Shapes) -> str | None:
    """The smp encoder name from the stage depths (ResNet, MiT), or None.

    >>> infer_encoder({"encoder.layer1.0.conv1.weight": (64, 64, 3, 3)})
    """
    if "encoder.conv1.weight" in shapes:
        depths = _stage_depths(shapes, r"encoder\.layer(\d)\.(\d+)\.")
        bottleneck = any(".conv3." in key for key in shapes if key.startswith("encoder.layer"))
        return RESNETS.get((depths, bottleneck))
    embed = shapes.get("encoder.patch_embed1.proj.weight")
    if embed is not None:
        depths = _stage_depths(shapes, r"encoder\.block(\d)\.(\d+)\.")
        return MITS.get((depths, embed[0]))
    return None


def infer_arch(shapes: Shapes) -> str | None:
    """``unet`` or ``deeplabv3`` from the decoder's keys, or None."""
    if any(key.startswith("decoder.blocks.") for key in shapes):
        return "unet"
    if any(key.startswith(("decoder.aspp.", "decoder.0.convs.")) for key in shapes):
        return "deeplabv3"
    return None


def in_channels(shapes: Shapes) -> int:
    """The input band count: the second axis of the encoder's first convolution.

    ResNet's ``conv1`` or MiT's first patch embedding; otherwise the first 4-D encoder tensor in
    the file's order (safetensors files sort their keys, so the known names come first).
    """
    for key in ("encoder.conv1.weight", "encoder.patch_embed1.proj.weight"):
        if key in shapes:
            return shapes[key][1]
    for key, shape in shapes.items():
        if key.startswith("encoder.") and len(shape) == 4:
            return shape[1]
    raise ConfigError(f"no convolution in the encoder ({describe(shapes)})")


def head_size(shapes: Shapes) -> int:
    """The logit count: the first axis of the segmentation head's convolution."""
    shape = shapes.get("segmentation_head.0.weight")
    if shape is None:
        raise ConfigError(f"no segmentation_head.0.weight ({describe(shapes)})")
    return shape[0]


def active_from_criterion(criterion: Mapping[str, torch.Tensor], logits: int) -> list[int] | None:
    """Logits with a non-zero loss weight (deactivated classes were weighted 0), or None."""
    weight = criterion.get("criterion.weight")
    if weight is None or weight.ndim != 1 or weight.numel() != logits:
        return None
    return [j for j, w in enumerate(weight.tolist()) if w != 0]


def active_from_count(count: int) -> list[int]:
    """The active logits of a 19-logit FLAIR-INC head with ``count`` classes (12, 15 or 19)."""
    if count == 12:
        return list(range(12))
    if count == 15:
        return [j for j in range(len(RAW_CLASSES)) if j not in FLAIR_INC_15_INACTIVE]
    return list(range(len(RAW_CLASSES)))


def class_declaration(source: Source, logits: int, options: ImportOptions) -> dict[str, object]:
    """Classes, colours, crosswalk and masked logits of the head.

    Raises:
        ConfigError: a 19-logit head whose active classes neither ``--classes``, the loss
            weights nor the file name tell; an unknown logit count.
    """
    if logits == NUM_CLASSES:
        return {"classes": CLASS_NAMES, "colours": CLASS_COLOURS, "crosswalk": tuple(range(13))}
    if logits == 12:
        return first_classes(12)
    if logits != len(RAW_CLASSES):
        raise ConfigError(
            f"{source.path}: a head of {logits} logits; FLAIR-INC models have 19 (the FLAIR "
            "order) or 12, the challenge models 13; check that the file is a FLAIR model"
        )
    active = None
    if options.classes is not None:
        active = active_from_count(options.classes)
    if active is None:
        active = active_from_criterion(source.criterion, logits)
    if active is None:
        named = _CLASS_COUNT.search(source.path.name)
        active = active_from_count(int(named[1])) if named else None
    if active is None:
        raise missing_fact(
            source.path,
            "which of the 19 logits were trained (FLAIR-INC 15- and 12-class models deactivate "
            "some; no loss weights in the file and no '15cl'/'12cl' in its name)",
            "--classes",
            "15",
        )
    return flair19_classes(active)


def choose_bands(source: Source, channels: int, options: ImportOptions) -> tuple[str, ...]:
    """The declared bands: ``--bands``, else RGBIE, RGBI or RGB by channel count.

    Raises:
        ConfigError: another channel count without ``--bands``, or ``--bands`` of another length.
    """
    if options.bands is not None:
        if len(options.bands) != channels:
            raise ConfigError(
                f"{source.path}: --bands {','.join(options.bands)} names {len(options.bands)} "
                f"band(s) but the model's first convolution takes {channels}"
            )
        return options.bands
    if channels not in DEFAULT_BANDS:
        raise missing_fact(
            source.path, f"which bands its {channels} inputs are", "--bands", "NIR,R,G"
        )
    return DEFAULT_BANDS[channels]


@functools.cache
def installed_deeplab_names() -> dict[str, str]:
    """How the installed smp names DeepLabV3's decoder parts: :data:`OLD_DEEPLAB` (old -> new)
    when it uses the new names, the reverse when it still uses the positional ones. Read from a
    DeepLabV3 built on the meta device (no memory, no weights)."""
    import segmentation_models_pytorch as smp

    with torch.device("meta"):
        keys = smp.DeepLabV3(encoder_name="resnet18", encoder_weights=None, classes=2).state_dict()
    if any(key.startswith("decoder.aspp.") for key in keys):
        return OLD_DEEPLAB
    return {new: old for old, new in OLD_DEEPLAB.items()}


def renamed(bare: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """DeepLabV3 decoder keys in the naming of the installed smp (< 0.4 positional, later
    ``aspp``/``conv``/``bn``), whichever smp saved the file; other keys unchanged."""
    deeplab = ("decoder.0.convs.", "decoder.aspp.")
    if not any(key.startswith(deeplab) for key in bare):
        return bare
    renames = installed_deeplab_names()
    out = {}
    for key, value in bare.items():
        for old, new in renames.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value
    return out


def convert(source: Source, options: ImportOptions) -> Imported:
    """A FLAIR-INC smp model as a flair-kit checkpoint (``net.`` + smp keys).

    Raises:
        ConfigError: not smp keys (the first keys named), an architecture or encoder that the
            keys do not tell (naming ``--arch`` / ``--encoder``), or a fact from
            :func:`class_declaration` / :func:`choose_bands`.
    """
    bare = smp_tensors(source.tensors)
    if bare is None:
        raise ConfigError(
            f"{source.path}: not an smp model's keys (encoder.*, decoder.*, segmentation_head.*, "
            f"optionally under seg_model.): {describe(shapes_of(source.tensors))}"
        )
    bare = renamed(bare)
    shapes = shapes_of(bare)
    arch = options.arch or infer_arch(shapes)
    if arch is None:
        raise missing_fact(source.path, "its smp architecture", "--arch", "unet")
    encoder = options.encoder or infer_encoder(shapes)
    if encoder is None:
        raise missing_fact(source.path, "its smp encoder", "--encoder", "resnet34")
    channels = in_channels(shapes)
    logits = head_size(shapes)
    bands = choose_bands(source, channels, options)
    declared = class_declaration(source, logits, options)
    if options.normalisation is None and logits == NUM_CLASSES:
        # FLAIR-INC models have 19 or 12 logits and IGN's mean/std; a 13-logit smp model was
        # trained on the challenge's classes, whose code feeds x / 255: the file cannot tell which.
        raise missing_fact(
            source.path,
            "its input normalisation (13 logits: a challenge-class model, usually x / 255, not "
            "FLAIR-INC's mean/std)",
            "--normalisation",
            "unit",
        )
    normalisation = options.normalisation or "flair-inc"
    mean, std = flair_inc_statistics(bands) if normalisation == "flair-inc" else (None, None)
    contract = ModelContract(
        bands=bands,
        normalisation="mean-std" if normalisation == "flair-inc" else "unit",
        mean=mean,
        std=std,
        resolution_m=options.resolution_m or FLAIR_RESOLUTION_M,
        variant=f"smp {arch}/{encoder}, {channels} bands, {logits} logits",
        **declared,  # type: ignore[arg-type]
    )
    config = TrainConfig(
        name=source.path.stem,
        data=DataConfig(bands=contract.flair_indices),
        model=ModelConfig(arch=arch, encoder=encoder),
    )
    return Imported(with_prefix(bare, "net."), config, contract)
