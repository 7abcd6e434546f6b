"""Gradient accumulation: k batches of b step exactly like one batch of k * b, under DDP and AMP too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import yaml
from torch import nn

from baseline.checkpoint import load_checkpoint
from baseline.config import config_from_dict, with_overrides
from baseline.progress import Observer
from baseline.runtime import DistInfo
from baseline.train import LoopSettings, class_weights, train, train_one_epoch
from scoring.classes import NUM_CLASSES, OTHER_INDEX
from scoring.errors import ConfigError

from .conftest import TEST_CONFIG

CPU = torch.device("cpu")


class Pixelwise(nn.Module):
    """A 1x1 convolution with the segmenter's call signature; no BatchNorm, so the gradient
    of a batch does not depend on how it is split."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(5, NUM_CLASSES, 1)

    def forward(self, images: torch.Tensor, metadata: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(images)


def batches(sizes: list[int]) -> list[dict[str, torch.Tensor]]:
    """Batches of 4x4 patches; the first batch is mostly 'other' (weight 0), so the batches'
    pixel weights differ and a plain mean of per-batch losses would not equal the big batch."""
    generator = torch.Generator().manual_seed(1)
    out = []
    for index, size in enumerate(sizes):
        mask = torch.randint(0, NUM_CLASSES, (size, 4, 4), generator=generator)
        if index == 0:
            mask[:, :3] = OTHER_INDEX
        out.append({"image": torch.randn(size, 5, 4, 4, generator=generator), "mask": mask})
    return out


def merged(parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.cat([p[key] for p in parts]) for key in ("image", "mask")}


def settings() -> LoopSettings:
    return LoopSettings(CPU, None, False, DistInfo(), Observer())


def trained(
    batch_list: list[dict[str, Any]],
    accumulate: int,
    wrap: Any = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[nn.Module, int]:
    """The model after one epoch over ``batch_list``, and the optimiser steps it took."""
    model = Pixelwise()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    steps = 0
    original = optimizer.step

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal steps
        steps += 1
        return original(*args, **kwargs)

    optimizer.step = counted  # type: ignore[method-assign]
    network = wrap(model) if wrap is not None else model
    weight = class_weights(0.0, CPU)
    train_one_epoch(network, batch_list, optimizer, weight, settings(), scaler, accumulate)
    return model, steps


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6, msg=name)


def test_k_batches_of_b_step_like_one_batch_of_k_times_b() -> None:
    parts = batches([2, 2, 2])
    big, big_steps = trained([merged(parts)], 1)
    accumulated, steps = trained(parts, 3)
    assert big_steps == steps == 1
    assert_same_weights(big, accumulated)
    untouched = Pixelwise()  # the step did move the weights
    assert not torch.allclose(untouched.conv.weight, big.conv.weight)


def test_averaging_per_batch_losses_would_differ() -> None:
    """The test above can fail: without the group's weights, accumulation is not exact."""
    parts = batches([2, 2])
    big, _ = trained([merged(parts)], 1)
    separate = Pixelwise()
    optimizer = torch.optim.SGD(separate.parameters(), lr=0.5)
    weight = class_weights(0.0, CPU)
    for part in parts:  # the naive recipe: (mean loss of each batch) / k
        logits = separate(part["image"])
        loss = nn.functional.cross_entropy(logits, part["mask"], weight=weight) / len(parts)
        loss.backward()
    optimizer.step()
    assert not torch.allclose(separate.conv.weight, big.conv.weight, atol=1e-4)


def test_a_last_partial_group_makes_its_own_step() -> None:
    parts = batches([2, 2, 2])
    accumulated, steps = trained(parts, 2)  # groups: [1, 2] then [3] alone
    assert steps == 2
    model = Pixelwise()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    weight = class_weights(0.0, CPU)
    for group in ([merged(parts[:2])], [parts[2]]):
        train_one_epoch(model, group, optimizer, weight, settings())
    assert_same_weights(model, accumulated)


def test_gradscaler_accumulates_the_same_gradient() -> None:
    parts = batches([2, 2])
    big, _ = trained([merged(parts)], 1)
    scaled, steps = trained(parts, 2, scaler=torch.amp.GradScaler("cpu", init_scale=1024.0))
    assert steps == 1
    assert_same_weights(big, scaled)


@contextlib.contextmanager
def one_process_group() -> Iterator[None]:
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")
def test_under_ddp_only_the_last_backward_of_a_group_synchronises() -> None:
    parts = batches([2, 2, 2, 2])
    big = [merged(parts[:2]), merged(parts[2:])]
    synced: list[bool] = []

    def wrap(model: nn.Module) -> nn.Module:
        ddp = nn.parallel.DistributedDataParallel(model)
        no_sync = ddp.no_sync

        @contextlib.contextmanager
        def recorded() -> Iterator[None]:
            synced.append(False)
            with no_sync():
                yield

        ddp.no_sync = recorded  # type: ignore[method-assign]
        ddp.register_forward_pre_hook(lambda *_: synced.append(True))
        return ddp

    with one_process_group():
        reference, _ = trained(big, 1, wrap=nn.parallel.DistributedDataParallel)
        synced.clear()
        accumulated, steps = trained(parts, 2, wrap=wrap)
    assert steps == 2
    # Each micro-batch's forward is recorded (True); no_sync is entered before the first of each group.
    assert synced == [False, True, True, False, True, True]
    assert_same_weights(reference, accumulated)


def config(root: Path, out: Path, **overrides: object):
    cfg = config_from_dict(yaml.safe_load(TEST_CONFIG))
    return with_overrides(cfg, **{"data.train": root, "out": out, **overrides})


def test_config_key_validated_and_stored(tiny_model, flair_root: Path, tmp_path: Path) -> None:
    assert config_from_dict({}).accumulate_steps == 1  # runs from before the key resume as 1
    with pytest.raises(ConfigError, match=r"accumulate_steps is 0; expected at least 1"):
        config(flair_root, tmp_path / "bad", accumulate_steps=0)
    result = train(config(flair_root, tmp_path / "run", epochs=1, accumulate_steps=2))
    stored = load_checkpoint(result.last_checkpoint)["config"]
    assert stored["accumulate_steps"] == 2 and stored["batch_size"] == 4
    with pytest.raises(
        ConfigError, match=r"but accumulate_steps: run 2, now 1; resume with the same settings"
    ):
        train(config(flair_root, tmp_path / "run", epochs=2), resume=True)
    resumed = train(config(flair_root, tmp_path / "run", epochs=2, accumulate_steps=2), resume=True)
    assert resumed.epochs_run == 2


def test_cli_option(tiny_model, flair_root: Path, test_config: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from starting_kit.cli import app

    run = tmp_path / "cli"
    args = ["baseline", "train", "--config", str(test_config), "--data", str(flair_root)]
    args += ["--output", str(run), "--epochs", "1", "--batch-size", "2", "--accumulate-steps", "2"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert yaml.safe_load((run / "config.yaml").read_text())["accumulate_steps"] == 2
    bad = CliRunner().invoke(app, [*args[:-1], "0", "--overwrite"])
    assert bad.exit_code == 2
