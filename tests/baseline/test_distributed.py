"""Two processes under torchrun with gloo on CPU: one run folder, exact sharded validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from baseline.checkpoint import load_checkpoint
from baseline.predict import predict
from baseline.runtime import (
    backend_name,
    init_distributed,
    process_group_backend,
    shutdown_distributed,
)
from scoring.evaluate import score_folders
from starting_kit.pathlists import format_path_list

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo"
)


def test_two_processes_with_gloo(flair_root: Path, test_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "starting_kit", "baseline", "train", "--config", str(test_config), "--data", str(flair_root),
        "--output", str(run), "--epochs", "2", "--batch-size", "2", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Only rank 0 wrote: one set of files, one summary on stdout.
    assert sorted(p.name for p in run.iterdir()) == [
        "best.pt",
        "config.yaml",
        "last.pt",
        "metrics.csv",
        "split.json",
        "training_curves.png",
    ]
    assert done.stdout.count("best checkpoint: ") == 1
    assert "2 process(es), process group gloo" in done.stderr
    last = load_checkpoint(run / "last.pt")
    assert last["epoch"] == 2 and len(last["rng"]) == 2  # the RNG state of each process

    # The sharded validation (no padding, no duplicates) equals a single-process official score.
    split = json.loads((run / "split.json").read_text())
    rows = []
    for name in split["val"]:
        (image,) = (flair_root / "flair_aerial_train").glob(f"*/*/img/{name}.tif")
        d, z = image.parts[-4], image.parts[-3]
        rows.append(
            (f"x/{d}/{z}/img/{name}.tif", f"x/{d}/{z}/msk/{name.replace('IMG', 'MSK')}.tif")
        )
    listing = tmp_path / "val.csv"
    listing.write_text(format_path_list(rows), encoding="utf-8")
    predict(
        run / "last.pt", listing, tmp_path / "pred", amp="off", num_workers=0, csv_root=flair_root
    )
    report = score_folders(tmp_path / "pred", flair_root / "flair_labels_train", subset=True)
    assert report.miou == pytest.approx(last["history"][-1]["val_miou"], abs=1e-12)


def test_the_backend_follows_the_device() -> None:
    assert process_group_backend(torch.device("cuda", 0)) == "nccl"
    assert process_group_backend(torch.device("cpu")) == "gloo"


def test_alone_without_torchrun_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    info = init_distributed(torch.device("cpu"))
    assert not info.distributed and not dist.is_initialized()
    assert backend_name(info) == "none"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_one_process_under_torchrun_joins_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """What torchrun --nproc_per_node 1 sets: one process still trains through DDP and the
    collectives (nccl on the lent single-GPU machine, gloo here)."""
    env = {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}
    for name, value in {**env, "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(name, value)
    info = init_distributed(torch.device("cpu"))
    try:
        assert info.distributed and info.world_size == 1 and info.is_main
        assert backend_name(info) == "gloo"
    finally:
        shutdown_distributed()
    assert not dist.is_initialized()
