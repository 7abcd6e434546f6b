"""Pure key converters between IGN's FLAIR #1 / #2 checkpoints and flair-kit's ``ign`` variant.

IGN's Lightning checkpoints (ign-models.md 1.5 and 3) hold ``model.<module>.<key>`` entries and the
losses' class weights (``criterion.*``). The networks that ``model.variant: ign`` builds are IGN's
numerically; only the names differ, and L-TAE's input projection is a Linear here (IGN: a Conv1d
with kernel 1, weight [256, 128, 1]). The positional-encoding periods are a buffer here and are
not in IGN's files: the converters compute them.

- :func:`flair1_from_ign` / :func:`flair2_from_ign`: IGN's state dict -> ours, plus the
  configuration sections inferred from the keys and shapes;
- :func:`flair1_to_ign` / :func:`flair2_to_ign`: ours (variant ``ign``) -> IGN's checkpoint
  ``state_dict``, ``model.`` prefix and ``criterion`` weights included.

Every converter checks its result against the network the configuration builds (built on the
``meta`` device: no memory, no I/O) and raises :class:`~scoring.errors.ConfigError` naming the
first unmatched, missing or mis-shaped keys with their shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from baseline.config import DataConfig, ModelConfig, SentinelConfig, TrainConfig
from baseline.sentinel import NUM_S2_BANDS
from baseline.weights.flair_inc import RESNETS, infer_encoder
from baseline.weights.layout import REPORT_HINT, describe, mismatch_details, shapes_of
from scoring.classes import NUM_CLASSES, OTHER_INDEX
from scoring.errors import ConfigError

#: Prefix of every network entry in IGN's Lightning checkpoints.
IGN_MODEL_PREFIX = "model."
#: Entries of IGN's checkpoints that hold the losses' class weights, not the network.
IGN_CRITERION_PREFIX = "criterion."
#: smp's default U-Net decoder widths (IGN's).
SMP_DECODER_CHANNELS = (256, 128, 64, 32, 16)

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class _Field:
    """A placeholder of a key template: its pattern and how its value maps IGN -> ours, back."""

    pattern: str
    to_ours: Callable[[str], str] = str
    to_ign: Callable[[str], str] = str


_FIELDS = {
    "n": _Field(r"\d+"),
    "i": _Field(r"\d+"),
    "c": _Field(r"\d+"),
    # IGN numbers the fusion stages 0..5; ours 1..5 are 0..4 (stage 0 has its own name).
    "s": _Field(r"\d+", lambda v: str(int(v) - 1), lambda v: str(int(v) + 1)),
    "leaf": _Field(r"[A-Za-z_]+"),
    "rest": _Field(r".+"),
}


@dataclass(frozen=True)
class _Rule:
    """One IGN key template and the matching flair-kit template (``{name}`` placeholders)."""

    ign: str
    ours: str

    def convert(self, key: str, *, to_ours: bool) -> str | None:
        source, target = (self.ign, self.ours) if to_ours else (self.ours, self.ign)
        match = _compile(source).fullmatch(key)
        if match is None:
            return None
        values = {
            name: (_FIELDS[name].to_ours if to_ours else _FIELDS[name].to_ign)(value)
            for name, value in match.groupdict().items()
        }
        return target.format(**values)


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>{_FIELDS[part].pattern})"
        for index, part in enumerate(parts)
    )
    return re.compile(pattern)


_FLAIR1_RULES = (
    _Rule("seg_model.{rest}", "net.{rest}"),
    _Rule("enc.enc_mlp.{n}.{leaf}", "metadata_mlp.mlp.{n}.{leaf}"),
)

_UTAE = "arch_hr."
_LTAE = "arch_hr.temporal_encoder."
_FLAIR2_RULES = (
    _Rule("arch_vhr.{rest}", "aerial.net.{rest}"),
    _Rule("mtd_mlp.enc_mlp.{n}.{leaf}", "aerial.metadata_mlp.mlp.{n}.{leaf}"),
    _Rule(_UTAE + "in_conv.conv.conv.{n}.{leaf}", "utae.in_conv.layers.{n}.{leaf}"),
    _Rule(_UTAE + "down_blocks.{i}.down.conv.{n}.{leaf}", "utae.down.{i}.down.{n}.{leaf}"),
    _Rule(
        _UTAE + "down_blocks.{i}.conv{c}.conv.{n}.{leaf}", "utae.down.{i}.conv{c}.layers.{n}.{leaf}"
    ),
    _Rule(_UTAE + "up_blocks.{i}.skip_conv.{n}.{leaf}", "utae.up.{i}.skip_conv.{n}.{leaf}"),
    _Rule(_UTAE + "up_blocks.{i}.up.{n}.{leaf}", "utae.up.{i}.up.{n}.{leaf}"),
    _Rule(_UTAE + "up_blocks.{i}.conv{c}.conv.{n}.{leaf}", "utae.up.{i}.conv{c}.layers.{n}.{leaf}"),
    _Rule(_UTAE + "out_conv.conv.conv.{n}.{leaf}", "utae.out_conv.layers.{n}.{leaf}"),
    _Rule(_LTAE + "inconv.{leaf}", "utae.ltae.in_conv.{leaf}"),
    _Rule(_LTAE + "attention_heads.Q", "utae.ltae.query"),
    _Rule(_LTAE + "attention_heads.fc1_k.{leaf}", "utae.ltae.key.{leaf}"),
    _Rule(_LTAE + "in_norm.{leaf}", "utae.ltae.in_norm.{leaf}"),
    _Rule(_LTAE + "out_norm.{leaf}", "utae.ltae.out_norm.{leaf}"),
    _Rule(_LTAE + "mlp.{n}.{leaf}", "utae.ltae.mlp.{n}.{leaf}"),
    # Stage 0 first: the shifted rules below must never see it.
    _Rule("fm_utae_featmap_cropped.conv_list.0.{leaf}", "cropped_stage0.{leaf}"),
    _Rule("fm_utae_featmap_cropped.conv_list.{s}.{leaf}", "cropped.{s}.{leaf}"),
    _Rule("fm_utae_featmap_collapsed.mlps.0.{n}.{leaf}", "pooled_stage0.{n}.{leaf}"),
    _Rule("fm_utae_featmap_collapsed.mlps.{s}.{n}.{leaf}", "pooled.{s}.{n}.{leaf}"),
    _Rule("reshape_utae_output.1.{leaf}", "aux_head.{leaf}"),
)

#: IGN's L-TAE input projection is a Conv1d (weight [d_model, C, 1]); ours is a Linear.
_CONV1D_IGN = "arch_hr.temporal_encoder.inconv.weight"
_LINEAR_OURS = "utae.ltae.in_conv.weight"
#: Our buffer of positional-encoding periods, absent from IGN's checkpoints.
_PERIODS = "utae.ltae.positional.inverse_periods"


def _rename(
    state: Mapping[str, torch.Tensor],
    rules: Sequence[_Rule],
    *,
    to_ours: bool,
    what: str,
    prefix: str = "",
) -> Tensors:
    """Every key renamed by the first rule that matches it; unmatched keys are an error (named
    with ``prefix``, the part of the caller's keys that was stripped)."""
    out: Tensors = {}
    unmatched: list[str] = []
    for key, value in state.items():
        new = next(
            (n for rule in rules if (n := rule.convert(key, to_ours=to_ours)) is not None), None
        )
        if new is None:
            unmatched.append(key)
        else:
            out[new] = value
    if unmatched:
        # Shown as in the file: with the prefix the caller stripped.
        shapes = {prefix + key: tuple(state[key].shape) for key in unmatched}
        raise ConfigError(
            f"{what}: {len(unmatched)} key(s) match no known layer: {describe(shapes)}; "
            f"{REPORT_HINT}"
        )
    return out


def _network_part(state: Mapping[str, torch.Tensor], what: str) -> tuple[Tensors, str]:
    """IGN's network entries (``criterion.*`` left out) without their common ``model.`` prefix,
    and that prefix ("" when the keys have none)."""
    network = {k: v for k, v in state.items() if not k.startswith(IGN_CRITERION_PREFIX)}
    if not network:
        raise ConfigError(
            f"{what}: the state dict holds no network weights (keys: {list(state)[:3]})"
        )
    if all(k.startswith(IGN_MODEL_PREFIX) for k in network):
        return {k.removeprefix(IGN_MODEL_PREFIX): v for k, v in network.items()}, IGN_MODEL_PREFIX
    return network, ""


def _check_against(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], what: str
) -> None:
    """Same keys and shapes as the network's state dict, or a ConfigError naming the differences."""
    details = mismatch_details(shapes_of(expected), shapes_of(state), "converted weights")
    if details:
        raise ConfigError(
            f"{what}: the weights do not fit the network inferred from them ({details}); "
            f"{REPORT_HINT}"
        )


def _shape(state: Mapping[str, torch.Tensor], key: str, what: str) -> tuple[int, ...]:
    if key not in state:
        raise ConfigError(f"{what}: no {key!r} entry; expected IGN's layout (ign-models.md 3)")
    return tuple(state[key].shape)


def _resnet(unet: Mapping[str, torch.Tensor], prefix: str, what: str) -> str:
    """The smp ResNet encoder whose layout the U-Net keys under ``prefix`` have."""
    shapes = {
        k.removeprefix(prefix): tuple(v.shape) for k, v in unet.items() if k.startswith(prefix)
    }
    name = infer_encoder(shapes)
    if name is None or not name.startswith("resnet"):
        raise ConfigError(
            f"{what}: the encoder under {prefix!r} is {name or 'not one flair-kit knows'}; "
            f"expected an smp ResNet U-Net ({', '.join(sorted(set(RESNETS.values())))})"
        )
    return name


def _decoder_channels(
    unet: Mapping[str, torch.Tensor], prefix: str, what: str
) -> tuple[int, ...] | None:
    widths = tuple(
        _shape(unet, f"{prefix}decoder.blocks.{k}.conv1.0.weight", what)[0]
        for k in range(len(SMP_DECODER_CHANNELS))
    )
    return None if widths == SMP_DECODER_CHANNELS else widths


def unet_io(state: Mapping[str, torch.Tensor], prefix: str = "net.") -> tuple[int, int]:
    """(input bands, output classes) of the U-Net in one of our state dicts (``aerial.net.``
    for U-T&T): what the configuration sections returned by the converters do not hold."""
    what = "U-Net weights"
    bands = _shape(state, f"{prefix}encoder.conv1.weight", what)[1]
    classes = _shape(state, f"{prefix}segmentation_head.0.weight", what)[0]
    return bands, classes


def _ign_model_config(ours: Mapping[str, torch.Tensor], prefix: str, what: str) -> ModelConfig:
    """The model section of IGN's network in our state dict (``prefix``: "" or ``aerial.``)."""
    return ModelConfig(
        arch="unet",
        encoder=_resnet(ours, f"{prefix}net.", what),
        decoder_channels=_decoder_channels(ours, f"{prefix}net.", what),
        use_metadata=any(k.startswith(f"{prefix}metadata_mlp.") for k in ours),
        metadata_encoding="official",
        variant="ign",
    )


def _meta_state(build: Callable[[], torch.nn.Module]) -> Tensors:
    """The state dict (shapes only) of the network ``build`` makes, on the meta device."""
    with torch.device("meta"):
        return build().state_dict()


# -- FLAIR #1 ------------------------------------------------------------------------------------


def _flair1_network(model: ModelConfig, bands: int, classes: int) -> Tensors:
    from baseline.fusion import metadata_fusion
    from baseline.model import build_model

    cfg = TrainConfig(model=model, data=DataConfig(bands=tuple(range(1, bands + 1))))
    return _meta_state(
        lambda: build_model(
            model.arch,
            model.encoder,
            bands,
            classes,
            decoder_channels=model.decoder_channels,
            use_metadata=model.use_metadata,
            metadata_fusion=metadata_fusion(cfg),
        )
    )


def flair1_from_ign(state_dict: Mapping[str, torch.Tensor]) -> tuple[Tensors, ModelConfig]:
    """IGN's FLAIR #1 checkpoint ``state_dict`` -> our state dict and model configuration.

    Accepts the legacy Lightning layout (``model.seg_model.*``, ``model.enc.enc_mlp.*``,
    ``criterion.weight``), the same without ``model.``, and bare smp U-Net keys. Bands and classes
    are the U-Net's (:func:`unet_io` on the result).

    Raises:
        ConfigError: keys that match no layer, or that do not fit the inferred network.
    """
    what = "IGN FLAIR #1 weights"
    network, prefix = _network_part(state_dict, what)
    if not any(k.startswith("seg_model.") for k in network):
        network = {
            f"seg_model.{k}"
            if k.startswith(("encoder.", "decoder.", "segmentation_head."))
            else k: v
            for k, v in network.items()
        }
    ours = _rename(network, _FLAIR1_RULES, to_ours=True, what=what, prefix=prefix)
    model = _ign_model_config(ours, "", what)
    bands, classes = unet_io(ours)
    _check_against(ours, _flair1_network(model, bands, classes), what)
    return ours, model


def flair1_to_ign(state_dict: Mapping[str, torch.Tensor]) -> Tensors:
    """Our FLAIR #1 state dict (``model.variant: ign``) -> IGN's checkpoint ``state_dict``.

    ``criterion.weight`` (1, and 0 for 'other') is added for 13-class models, as IGN saves it.

    Raises:
        ConfigError: keys of another layout (the ``flair-kit`` variant's projection...).
    """
    what = "flair-kit FLAIR #1 weights"
    ign = _rename(state_dict, _FLAIR1_RULES, to_ours=False, what=what)
    out = {IGN_MODEL_PREFIX + k: v for k, v in ign.items()}
    if unet_io(state_dict)[1] == NUM_CLASSES:
        out[IGN_CRITERION_PREFIX + "weight"] = _aerial_class_weights()
    return out


# -- FLAIR #2 ------------------------------------------------------------------------------------


def _sentinel_config(ours: Mapping[str, torch.Tensor], what: str) -> SentinelConfig:
    first = _shape(ours, "utae.in_conv.layers.0.weight", what)
    if first[1] != NUM_S2_BANDS:
        raise ConfigError(
            f"{what}: U-TAE takes {first[1]} bands (utae.in_conv.layers.0.weight {list(first)}); "
            f"the FLAIR #2 Sentinel-2 series have {NUM_S2_BANDS}"
        )
    downs = sorted({int(m.group(1)) for k in ours if (m := re.match(r"utae\.down\.(\d+)\.", k))})
    encoder = [first[0]] + [
        _shape(ours, f"utae.down.{i}.conv1.layers.0.weight", what)[0] for i in downs
    ]
    ups = [_shape(ours, f"utae.up.{k}.up.0.weight", what) for k in range(len(downs))]
    # up[k] maps decoder width n-1-k to n-2-k (ConvTranspose2d weight: [d_in, d_out, 4, 4]).
    decoder = ([shape[1] for shape in reversed(ups)] + [ups[0][0]]) if ups else []
    n_head, d_k = _shape(ours, "utae.ltae.query", what)
    d_model = _shape(ours, _LINEAR_OURS, what)[0]
    return SentinelConfig(
        encoder_widths=tuple(encoder),
        decoder_widths=tuple(decoder),
        n_head=n_head,
        d_model=d_model,
        d_k=d_k,
        scaling="ign",
    )


def _flair2_network(model: ModelConfig, sentinel: SentinelConfig, bands: int) -> Tensors:
    from baseline.config import validate_config
    from baseline.fusion import build_network

    cfg = TrainConfig(
        dataset="flair2",
        model=model,
        sentinel=sentinel,
        data=DataConfig(bands=tuple(range(1, bands + 1))),
    )
    validate_config(cfg, "IGN FLAIR #2 weights")
    return _meta_state(lambda: build_network(cfg, bands, "none"))


def flair2_from_ign(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[Tensors, ModelConfig, SentinelConfig]:
    """IGN's FLAIR #2 U-T&T checkpoint ``state_dict`` -> our state dict and configuration.

    Accepts the Lightning layout (``model.arch_vhr.*``, ``model.arch_hr.*``, the two fusion
    paths, ``model.reshape_utae_output.*``, optionally ``model.mtd_mlp.*``, ``criterion.*``) with
    or without ``model.``. U-TAE widths, heads, d_model and d_k come from the shapes; the
    Sentinel-2 pipeline is IGN's (``scaling: ign``, monthly means, cloud filter, 40-pixel crops).

    Raises:
        ConfigError: keys that match no layer, or that do not fit the inferred network.
    """
    what = "IGN FLAIR #2 weights"
    network, prefix = _network_part(state_dict, what)
    ours = _rename(network, _FLAIR2_RULES, to_ours=True, what=what, prefix=prefix)
    projection = ours.get(_LINEAR_OURS)
    if projection is not None and projection.ndim == 3:
        ours[_LINEAR_OURS] = projection.squeeze(-1)
    model = _ign_model_config(ours, "aerial.", what)
    sentinel = _sentinel_config(ours, what)
    ours[_PERIODS] = _positional_periods(sentinel)
    bands = unet_io(ours, "aerial.net.")[0]
    _check_against(ours, _flair2_network(model, sentinel, bands), what)
    return ours, model, sentinel


def flair2_to_ign(state_dict: Mapping[str, torch.Tensor]) -> Tensors:
    """Our U-T&T state dict (``model.variant: ign``) -> IGN's checkpoint ``state_dict``.

    The positional-encoding buffer is left out (IGN does not save it); ``criterion.0.weight``
    (aerial loss: 1, and 0 for 'other') and ``criterion.1.weight`` (U-TAE loss: 0 also for
    'plowed land') are added, as IGN saves them.

    Raises:
        ConfigError: keys of another layout (the ``flair-kit`` variant's projection...).
    """
    from baseline.fusion import utae_class_weights

    what = "flair-kit U-T&T weights"
    network = {k: v for k, v in state_dict.items() if k != _PERIODS}
    ign = _rename(network, _FLAIR2_RULES, to_ours=False, what=what)
    if _CONV1D_IGN in ign:
        ign[_CONV1D_IGN] = ign[_CONV1D_IGN].unsqueeze(-1)
    out = {IGN_MODEL_PREFIX + k: v for k, v in ign.items()}
    out[IGN_CRITERION_PREFIX + "0.weight"] = _aerial_class_weights()
    out[IGN_CRITERION_PREFIX + "1.weight"] = utae_class_weights(None)
    return out


def _aerial_class_weights() -> torch.Tensor:
    """IGN's aerial loss weights: 1 for the scored classes, 0 for 'other'."""
    weights = torch.ones(NUM_CLASSES, dtype=torch.float32)
    weights[OTHER_INDEX] = 0.0
    return weights


def _positional_periods(sentinel: SentinelConfig) -> torch.Tensor:
    from baseline.utae import PositionalEncoding

    return PositionalEncoding(sentinel.d_model // sentinel.n_head, sentinel.n_head).inverse_periods
