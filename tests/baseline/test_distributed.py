"""Two processes under torchrun with gloo on CPU: one run folder, exact sharded validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

from baseline.checkpoint import load_checkpoint
from baseline.predict import predict
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
