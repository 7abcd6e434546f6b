"""Support for the IGN oracle tests: the files of ``tests/data/ign/`` and the U-Net weight rule.

The oracles' aerial U-Net weights are not stored: every tensor is a function of its smp key and
shape (``tests/data/ign/README.md``, "The oracles' U-Net weights"). :func:`deterministic_tensor`
implements that rule from its description, in numpy with uint64 arithmetic; every value is exactly
representable in float32, so the weights come out bit for bit.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

IGN_DATA = Path(__file__).resolve().parents[1] / "data" / "ign"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def uniform_steps(key: str, count: int) -> np.ndarray:
    """``count`` values k / 2**20 from splitmix64 seeded by crc32(key) (float64, exact)."""
    seed = np.uint64(zlib.crc32(key.encode("utf-8")))
    with np.errstate(over="ignore"):  # uint64 wrap-around is the rule
        z = seed + np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(44)).astype(np.float64) / 2.0**20


def deterministic_tensor(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The oracle U-Net's value for one smp key (``encoder.conv1.weight``...)."""
    if key.endswith("num_batches_tracked"):
        return torch.zeros((), dtype=torch.int64)
    u = uniform_steps(key, int(np.prod(shape)) if shape else 1)
    if key.endswith("running_mean"):
        values = (2.0 * u - 1.0) / 8.0
    elif key.endswith("running_var"):
        values = 0.5 + u
    elif len(shape) == 1 and key.endswith(".weight"):
        values = 0.75 + 0.5 * u
    elif len(shape) == 1 and key.endswith(".bias"):
        values = (2.0 * u - 1.0) / 16.0
    else:
        fan_in = int(np.prod(shape[1:]))
        values = (2.0 * u - 1.0) * 2.0 ** -((fan_in.bit_length() - 1) // 2)
    out = values.astype(np.float32).reshape(shape)
    assert np.array_equal(out.astype(np.float64), values.reshape(shape))  # exact in float32
    return torch.from_numpy(out)


def key_list(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) of one of IGN's checkpoint key lists, in the checkpoint's order."""
    rows = (IGN_DATA / name).read_text(encoding="utf-8").splitlines()
    return [(key, tuple(json.loads(shape))) for key, shape in (row.split("\t") for row in rows)]


def zeros_like_list(keys: list[tuple[str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    """A state dict of zeros with the listed keys and shapes (int64 counters, as IGN's)."""
    return {
        key: torch.zeros(shape, dtype=torch.int64 if "num_batches" in key else torch.float32)
        for key, shape in keys
    }


def unet_weights(prefix: str, keys: list[tuple[str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    """The oracle U-Net under ``prefix`` (``model.arch_vhr.``), for the listed keys."""
    return {
        key: deterministic_tensor(key[len(prefix) :], shape)
        for key, shape in keys
        if key.startswith(prefix)
    }


def load_oracle(name: str) -> dict[str, Any]:
    return torch.load(IGN_DATA / name, map_location="cpu", weights_only=True)
