"""Where and how the baseline runs: device, mixed precision, seeding, RNG state, torch.distributed.

Mixed precision policy (``amp: auto``), measured rather than assumed:

- CUDA: bf16 autocast where the GPU supports it (Ampere and later), else fp16 with a GradScaler;
- CPU: bf16 autocast when oneDNN reports native bf16 instructions (AVX512-BF16 or AMX), else fp32:
  on CPUs that emulate bf16 it is slower than fp32. On the 2-core AMD EPYC (Zen 4, AVX512-BF16)
  used to develop the kit, bf16 U-Net/ResNet34 inference ran about 3x faster than fp32
  (see benchmarks/RESULTS.md).

Distributed runs are started by ``torchrun``, which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
and ``MASTER_ADDR``: the process group uses nccl on GPUs and gloo on CPUs
(:func:`process_group_backend`), each process drives the GPU of its local rank, and only rank 0
writes files. A one-process torchrun joins a process group too, so a single GPU runs the very
code path (DDP, collectives) of many.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from baseline.choices import AMPS, DEVICES
from scoring.errors import ConfigError, FlairKitError
from scoring.pool import default_workers as usable_cores


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and reports progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether a process group is in use (always with several processes; one under torchrun)."""
        return self.world_size > 1 or self.group


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def process_group_backend(device: torch.device) -> str:
    """The collective backend for a device: nccl for CUDA, gloo for CPU.

    >>> process_group_backend(torch.device("cuda", 0)), process_group_backend(torch.device("cpu"))
    ('nccl', 'gloo')
    """
    return "nccl" if device.type == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    """Whether the environment describes a process group (torchrun sets these, even for one)."""
    return all(os.environ.get(name) for name in ("WORLD_SIZE", "RANK", "MASTER_ADDR"))


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group that torchrun describes in the environment (no-op when alone).

    Backend: :func:`process_group_backend`. Under torchrun a single process joins a group of one,
    so DDP and the collectives run exactly as with several.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    if (world_size > 1 or launched_by_torchrun()) and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=process_group_backend(device))
    group = dist.is_available() and dist.is_initialized()
    return DistInfo(_env_int("RANK", 0), world_size, _env_int("LOCAL_RANK", 0), group)


def backend_name(info: DistInfo) -> str:
    """How a run's processes talk, for the log: ``nccl``, ``gloo`` or ``none``."""
    return str(dist.get_backend()) if info.group and dist.is_initialized() else "none"


def shutdown_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """Turn ``auto|cpu|cuda`` into a device; under torchrun, the GPU of the local rank.

    Raises:
        ConfigError: ``cuda`` was asked for but no CUDA device is usable.
    """
    if choice not in DEVICES:
        raise ConfigError(
            f"device is {choice!r}; expected {', '.join(DEVICES[:-1])} or {DEVICES[-1]}"
        )
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(
            "device is 'cuda' but torch sees no CUDA device (CPU-only torch build, or no GPU "
            "visible); use --device cpu or --device auto"
        )
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(
            f"LOCAL_RANK is {local_rank} but only {count} CUDA device(s) are visible; start at "
            f"most {count} processes per node"
        )
    return torch.device("cuda", local_rank)


def default_workers(device: torch.device) -> int:
    """DataLoader readers for prediction when none are asked for.

    On CPU the model already uses every core and reading a patch costs a tiny fraction of its
    forward pass, so reading in the main process is fastest (measured on 2 cores: 0 workers 1.5x
    faster end to end than 1). On a GPU the reading is the bottleneck: 5/8 of the usable cores,
    at most 16 (on 16 cores, 10 readers; the PRED writers take most of the rest, see
    :func:`baseline.writers.default_writers`; 8 readers read 461 tiles/s of 512 px on an H100
    machine, benchmarks/RESULTS.md).
    """
    if device.type != "cuda":
        return 0
    return max(1, min(16, usable_cores() * 5 // 8))


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_amp(choice: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``auto|off|bf16|fp16`` on ``device`` (None means fp32).

    Raises:
        ConfigError: fp16 on CPU, or bf16 on a GPU without bf16 support.
    """
    if choice == "off":
        return None
    if device.type == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if choice == "auto":
            return torch.bfloat16 if bf16_ok else torch.float16
        if choice == "bf16" and not bf16_ok:
            raise ConfigError("amp is 'bf16' but this GPU does not support bf16; use fp16 or off")
        return torch.bfloat16 if choice == "bf16" else torch.float16
    if choice == "fp16":
        raise ConfigError("amp is 'fp16', which is for GPUs; on CPU use bf16, auto or off")
    if choice == "auto":
        return torch.bfloat16 if cpu_has_fast_bf16() else None
    if choice == "bf16":
        return torch.bfloat16
    raise ConfigError(f"amp is {choice!r}; expected {', '.join(AMPS[:-1])} or {AMPS[-1]}")


def amp_name(dtype: torch.dtype | None) -> str:
    """How an autocast dtype is shown to users: ``bfloat16``, ``float16`` or ``off``.

    >>> amp_name(torch.bfloat16), amp_name(None)
    ('bfloat16', 'off')
    """
    return str(dtype).replace("torch.", "") if dtype is not None else "off"


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """An autocast context for the device, disabled when ``dtype`` is None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The global RNG states of this process, in types a weights-only checkpoint can hold."""
    np_state: Any = np.random.get_state()  # the legacy tuple (its stub is a union with dict)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (np_state[0], [int(v) for v in np_state[1]], *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over all processes (identity when alone)."""
    if info.distributed:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_objects(value: Any, info: DistInfo) -> list[Any]:
    """Every process's ``value``, in rank order (``[value]`` when alone)."""
    if not info.distributed:
        return [value]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def broadcast_object(value: Any, info: DistInfo) -> Any:
    """Rank 0's ``value`` on every process."""
    if not info.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_buffers(model: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process.

    DDP broadcasts buffers at the start of each training forward, and each process then updates
    its own copy with its own batch; before validation they are made identical again, so every
    process evaluates exactly the network that rank 0 saves.
    """
    if info.distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def barrier(info: DistInfo) -> None:
    """Wait for every process."""
    if info.distributed:
        dist.barrier()


def worker_error(exc: FlairKitError) -> FlairKitError:
    """The kit's error raised in a DataLoader worker, with its own one-line message again.

    PyTorch re-raises a worker's exception in the main process as the same type whose message is
    ``Caught DataError in DataLoader worker process 0. Original Traceback ...`` followed by the
    worker's traceback; the original message is the text after the last ``module.Type: ``.
    Errors raised elsewhere are returned as they are.

    >>> from scoring.errors import DataError
    >>> wrapped = DataError("Caught DataError in DataLoader worker process 0.\\nOriginal "
    ...     "Traceback (most recent call last):\\n  File ...\\nscoring.errors.DataError: a.tif: bad")
    >>> str(worker_error(wrapped))
    'a.tif: bad'
    """
    text = str(exc)
    if not (text.startswith("Caught ") and "DataLoader worker" in text.split("\n", 1)[0]):
        return exc
    marker = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    where = text.rfind(marker)
    message = text[where + len(marker) :] if where >= 0 else text.splitlines()[-1]
    try:
        return type(exc)(message.strip())
    except TypeError:  # a subclass with a richer constructor: keep the original
        return exc
