"""Read weight files without executing code: ``.ckpt``/``.pth``/``.pt`` and ``.safetensors``.

``torch.load(weights_only=True)`` unpickles only tensors and plain containers; a file whose pickle
needs a class or a function (a whole pickled model, a Lightning checkpoint with hyper-parameter
objects) is refused with the unpickler's one-line reason. IGN's Lightning checkpoints are plain
dicts (``epoch``, ``global_step``, ``pytorch-lightning_version``, ``state_dict``, ``loops``) and load.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from baseline.checkpoint import load_failure
from scoring.errors import DataError, MissingFileError
from scoring.masks import absent_or_kind

#: Suffixes read with ``torch.load``; ``.safetensors`` is read by the safetensors package.
TORCH_SUFFIXES = (".ckpt", ".pth", ".pt", ".bin")
#: First bytes of the files a failed download leaves instead of the weights, and what they are.
NOT_WEIGHTS = (
    (b"<!doctype", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"version https://git-lfs.github.com/spec/", "a git-LFS pointer"),
)
#: How many leading bytes :func:`weights_kind` reads.
MAGIC_BYTES = 64


@dataclass(frozen=True)
class Source:
    """The tensors of a weight file, unwrapped.

    Attributes:
        path: the file.
        tensors: name -> tensor, without the Lightning ``model.`` prefix and without the loss
            buffers (``criterion.*``).
        criterion: the loss buffers that were dropped (``criterion.weight`` tells the active
            classes of FLAIR-INC models).
        epoch: the Lightning checkpoint's epoch, when present.
        prefix: the prefix taken off every key (``model.`` of a Lightning checkpoint, or ""),
            so that messages can show the keys as the file has them.
    """

    path: Path
    tensors: dict[str, torch.Tensor]
    criterion: dict[str, torch.Tensor] = field(default_factory=dict)
    epoch: int | None = None
    prefix: str = ""


def weights_kind(head: bytes) -> str | None:
    """What a weights file's first bytes say it is: ``torch-zip`` (``torch.save``'s zip),
    ``pickle`` (the legacy format, a pickle protocol byte), ``safetensors`` (an 8-byte
    little-endian header length, then ``{``), a description of a non-weights file a failed
    download leaves (``an HTML page``, ``a git-LFS pointer``), or None (unknown bytes).

    >>> weights_kind(b"PK\\x03\\x04...."), weights_kind(b"\\x80\\x02}q"), weights_kind(b"<!DOCTYPE html>")
    ('torch-zip', 'pickle', 'an HTML page')
    """
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if head[:1] == b"\x80" and head[1:2] and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1:
        return "safetensors"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return next((what for magic, what in NOT_WEIGHTS if text.startswith(magic)), None)


def _check_magic(path: Path) -> None:
    """Refuse a file that is not a weights file before any reader sees it (one line, the fix).

    Raises:
        DataError: an HTML page, a git-LFS pointer, or bytes of no weights format.
    """
    with path.open("rb") as stream:
        head = stream.read(MAGIC_BYTES)
    kind = weights_kind(head)
    if kind in ("torch-zip", "pickle", "safetensors"):
        return
    if kind is None and path.suffix.lower() == ".safetensors":
        return  # the safetensors reader names what is wrong with its header
    download = (
        "download the file itself again (e.g. with huggingface_hub's hf_hub_download, or "
        "`git lfs pull` in a cloned repository)"
    )
    if kind is not None:
        raise DataError(f"{path}: not a weights file: it looks like {kind}; {download}")
    raise DataError(
        f"{path}: not a weights file: its first bytes {head[:8]!r} are neither a torch zip "
        "(PK\\x03\\x04) nor a legacy torch pickle (\\x80); the file is damaged or something "
        f"else: {download}"
    )


def read_file(path: Path) -> Any:
    """The content of a weight file: a state dict, or a Lightning checkpoint dict.

    Raises:
        MissingFileError: no such file.
        DataError: a pickle that needs code (only when the unpickler refused a global), an HTML
            page or a git-LFS pointer (a failed download), bytes of no weights format, a
            damaged file, or an unknown suffix; one line.
    """
    if not path.is_file():
        raise MissingFileError(
            f"{path}: weights file {absent_or_kind(path)}; give the .ckpt, .pth, .pt or "
            ".safetensors file itself"
        )
    suffix = path.suffix.lower()
    if suffix == ".safetensors" or suffix in TORCH_SUFFIXES:
        _check_magic(path)
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable .safetensors file ({exc})") from None
    if suffix not in TORCH_SUFFIXES:
        raise DataError(
            f"{path}: unknown weights file type {suffix or '(no suffix)'!r}; expected .ckpt "
            f"(IGN's Lightning checkpoints), {', '.join(TORCH_SUFFIXES[1:])} or .safetensors"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on a bad file
        reason = load_failure(exc)
        # Only a refused global means code: an unknown opcode is a damaged file (the magic
        # bytes were a weights format's, so a download went wrong part-way).
        if "Unsupported global" in reason:
            raise DataError(
                f"{path}: the file needs to execute pickled code to load ({reason}); flair-kit "
                "never runs code from a weights file: save the state dict alone "
                "(torch.save(model.state_dict(), 'weights.pth')) or convert it to .safetensors"
            ) from None
        raise DataError(
            f"{path}: not a readable torch file ({type(exc).__name__}: {reason}); the file is "
            "damaged or truncated: download it again"
        ) from None


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def unwrap(content: Any, path: Path) -> Source:
    """The state dict of a Lightning checkpoint or a plain one, ``model.`` and ``criterion.*`` off.

    Raises:
        DataError: neither a state dict nor a dict holding one under ``state_dict`` (the
            top-level keys are named).
    """
    epoch = None
    state = content
    if isinstance(content, dict) and "state_dict" in content:
        state = content["state_dict"]
        epoch = content.get("epoch") if isinstance(content.get("epoch"), int) else None
    if not _is_state_dict(state):
        keys = list(content)[:8] if isinstance(content, dict) else []
        raise DataError(
            f"{path}: not a state dict (name -> tensor) nor a Lightning checkpoint holding one "
            f"under 'state_dict' (it holds a {type(content).__name__}"
            f"{', keys ' + str(keys) if keys else ''}); give the weights file itself"
        )
    criterion = {k: v for k, v in state.items() if k.startswith("criterion.")}
    tensors = {k: v for k, v in state.items() if not k.startswith("criterion.")}
    prefix = ""
    if tensors and all(k.startswith("model.") for k in tensors):
        prefix = "model."
        tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
    if not tensors:
        raise DataError(f"{path}: the state dict holds only loss buffers ({sorted(criterion)})")
    return Source(path, tensors, criterion, epoch, prefix)


def read_source(path: Path) -> Source:
    """Read and unwrap a weights file (:func:`read_file`, then :func:`unwrap`)."""
    return unwrap(read_file(path), path)
