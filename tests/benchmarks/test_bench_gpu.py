"""The GPU benchmark in its tiny quick mode on CPU: it runs end to end and its JSON is sound."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gpu"] = module
    spec.loader.exec_module(module)
    return module


def positive(record: dict[str, Any], *keys: str) -> None:
    assert "error" not in record, record
    for key in keys:
        assert record[key] > 0, (key, record)


@pytest.fixture(scope="module")
def tiny_report(bench: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "bench_gpu.json"
    returned = bench.main(["--device", "cpu", "--quick", "--tiny", "--json", str(out)])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(returned))
    return written


def test_tiny_run_records_the_machine_and_plan(tiny_report: dict[str, Any]) -> None:
    machine = tiny_report["machine"]
    assert machine["device"] == "cpu"
    assert machine["cpu_count"] >= 1
    assert machine["torch"] == torch.__version__
    assert tiny_report["plan"]["size"] == 64
    assert tiny_report["compile"] == {"skipped": True}  # off by default in quick mode
    assert tiny_report["total_s"] > 0
    assert set(tiny_report["section_s"]) == {
        "train",
        "config_train",
        "ddp",
        "loader",
        "inference",
        "end_to_end",
    }


def test_tiny_run_measures_training_loading_and_inference(tiny_report: dict[str, Any]) -> None:
    (train,) = tiny_report["train"]
    positive(train, "images_per_s", "step_ms")
    assert (train["precision"], train["channels_last"], train["batch"]) == ("fp32", True, 2)
    assert train["peak_gpu_mem_mib"] is None
    (loader,) = tiny_report["loader"]
    positive(loader, "images_per_s", "images")
    assert loader["workers"] == 0
    modes = {row["mode"]: row for row in tiny_report["inference"]}
    assert set(modes) == {"plain", "tta_d4", "utt"}
    for row in modes.values():
        positive(row, "tiles_per_s")
    assert modes["utt"]["config"] == "flair2-baseline"


def test_tiny_run_measures_the_baseline_config_and_a_torchrun_ddp_run(
    tiny_report: dict[str, Any],
) -> None:
    config = tiny_report["config_train"]
    positive(config, "images_per_s", "step_ms")
    assert (config["config"], config["batch"], config["optimizer"], config["lr"]) == (
        "flair1-baseline",
        10,
        "sgd",
        0.02,
    )
    assert config["size"] == 64 and config["channels_last"] is True
    ddp = tiny_report["ddp"]
    positive(ddp, "images_per_s")
    assert ddp["returncode"] == 0 and ddp["processes"] == 1
    assert ddp["backend"] == "gloo"  # on CPU; the same code path picks nccl on a GPU
    # 3 training patches, batch 1, 2 per step: groups of [2, 1], the short last group included
    assert (ddp["train_patches"], ddp["accumulate_steps"], ddp["optimizer_steps"]) == (3, 2, 2)
    assert ddp["command"].startswith("torchrun --standalone --nproc_per_node 1 -m starting_kit")


def test_tiny_run_times_predict_pack_and_its_phases(tiny_report: dict[str, Any]) -> None:
    e2e = tiny_report["end_to_end"]
    assert e2e["n_tiles"] == 6  # 4 generated test patches, 2 hard-linked copies
    assert tiny_report["generation"]["test_patches"] == 6
    positive(e2e, "wall_s", "loop_s", "loop_tiles_per_s", "read_s", "infer_s", "write_s", "pack_s")
    assert e2e["setup_s"] >= 0 and e2e["write_residual_s"] >= 0
    assert e2e["bottleneck"] in ("read", "infer", "write")
    extrapolated = e2e["extrapolated_15700"]
    positive(extrapolated, "wall_s", "loop_s", "read_s", "infer_s", "write_s", "pack_s")
    positive(e2e, "loop_steady_tiles_per_s")
    assert e2e["loop_fixed_s"] >= 0
    expected = e2e["loop_fixed_s"] + 15_700 / e2e["loop_steady_tiles_per_s"]
    assert extrapolated["loop_s"] == pytest.approx(expected, rel=0.01, abs=0.2)
    assert extrapolated["pack_s"] == pytest.approx(e2e["pack_s"] * 15_700 / 6, rel=0.01, abs=0.2)
    assert "cli" not in e2e  # --tiny skips the command-line run


def test_a_compile_that_outlasts_its_bound_is_recorded_not_fatal(
    bench: ModuleType, tmp_path: Path
) -> None:
    args = bench.parse_args(["--device", "cpu", "--tiny", "--compile-timeout", "0.5"])
    plan = bench.build_plan(args)
    result = bench.bench_compile(torch.device("cpu"), args, plan, tmp_path, lambda text: None)
    assert result["status"].startswith("timed out after")
    for part in ("train", "inference"):
        assert result[part]["error"].startswith("not measured: timed out")


def test_overrides_and_bad_values(bench: ModuleType) -> None:
    plan = bench.build_plan(bench.parse_args(["--quick", "--batches", "1,3", "--no-cli"]))
    assert (
        plan.batches == (1, 3) and plan.cli is False and plan.size == 64 and plan.compile is False
    )
    with pytest.raises(SystemExit, match="expected fp32 and/or bf16"):
        bench.build_plan(bench.parse_args(["--precisions", "fp8"]))
    with pytest.raises(SystemExit, match="expected some of"):
        bench.main(["--device", "cpu", "--tiny", "--skip", "nothing"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_says_what_to_do(bench: ModuleType) -> None:
    with pytest.raises(SystemExit, match="--device cpu --quick"):
        bench.main(["--device", "cuda", "--tiny"])


@pytest.mark.gpu
def test_tiny_run_on_the_gpu(bench: ModuleType, tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    report = bench.main(["--device", "cuda", "--tiny", "--json", str(tmp_path / "gpu.json")])
    (train,) = report["train"]
    positive(train, "images_per_s", "peak_gpu_mem_mib")
    positive(report["end_to_end"], "wall_s", "peak_gpu_mem_mib")
