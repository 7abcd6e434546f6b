"""The command line: flair-kit baseline train|predict and flair-kit demo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import baseline
from scoring.errors import MissingDependencyError
from starting_kit.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    "args",
    [
        ["baseline", "--help"],
        ["baseline", "train", "--help"],
        ["baseline", "predict", "--help"],
        ["demo", "--help"],
    ],
)
def test_help(args: list) -> None:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_baseline_without_arguments_shows_help() -> None:
    result = invoke("baseline")
    assert "train" in result.output and "predict" in result.output


def test_train_and_predict(tiny_model, flair_root: Path, test_config: Path, tmp_path: Path) -> None:
    trained = invoke(
        "baseline",
        "train",
        "--config",
        test_config,
        "--data",
        flair_root,
        "--output",
        tmp_path / "run",
        "--epochs",
        "1",
        "--seed",
        "4",
        "--batch-size",
        "3",
        "--device",
        "cpu",
        "--workers",
        "0",
    )
    assert trained.exit_code == 0, trained.output
    assert "best checkpoint: " in trained.stdout
    assert "epoch 1/1" in trained.stderr  # progress goes to stderr
    assert (tmp_path / "run" / "best.pt").is_file()
    stored = json.loads(
        json.dumps(__import__("yaml").safe_load((tmp_path / "run" / "config.yaml").read_text()))
    )
    assert (stored["seed"], stored["batch_size"], stored["epochs"]) == (4, 3, 1)

    predicted = invoke(
        "baseline",
        "predict",
        "--checkpoint",
        tmp_path / "run" / "best.pt",
        "--data",
        flair_root,
        "--output",
        tmp_path / "pred",
        "--pack",
        tmp_path / "sub.zip",
        "--workers",
        "0",
        "--bands",
        "1,2,3,4,5",
    )
    assert predicted.exit_code == 0, predicted.output
    assert "tiles/s" in predicted.stdout and "validated" in predicted.stdout
    assert (tmp_path / "sub.zip").is_file()

    again = invoke(
        "baseline",
        "train",
        "--config",
        test_config,
        "--data",
        flair_root,
        "--output",
        tmp_path / "run",
        "--epochs",
        "1",
    )
    assert again.exit_code == 1
    assert "error: " in again.stderr and "pass --resume to continue it" in again.stderr
    assert "Traceback" not in again.output

    resumed = invoke(
        "baseline",
        "train",
        "--config",
        test_config,
        "--data",
        flair_root,
        "--output",
        tmp_path / "run",
        "--epochs",
        "2",
        "--seed",
        "4",
        "--batch-size",
        "3",
        "--resume",
    )
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.stderr and "epoch 2/2" in resumed.stderr


def test_train_errors_exit_1_with_one_line(tmp_path: Path) -> None:
    result = invoke("baseline", "train", "--config", tmp_path / "absent.yaml")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "configuration not found" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 1\n")
    result = invoke("baseline", "train", "--config", bad)
    assert result.exit_code == 1 and "unknown key(s) 'epochz'" in result.stderr


def test_train_usage_errors_exit_2(test_config: Path) -> None:
    assert invoke("baseline", "train").exit_code == 2
    assert invoke("baseline", "train", "--config", test_config, "--device", "tpu").exit_code == 2
    assert invoke("baseline", "train", "--config", test_config, "--epochs", "0").exit_code == 2


def test_predict_errors(tmp_path: Path, flair_root: Path) -> None:
    result = invoke(
        "baseline",
        "predict",
        "--checkpoint",
        tmp_path / "x.pt",
        "--data",
        flair_root,
        "--output",
        tmp_path / "p",
        "--bands",
        "1,x",
    )
    assert result.exit_code == 2 and "expected comma-separated integers" in result.output
    result = invoke(
        "baseline",
        "predict",
        "--checkpoint",
        tmp_path / "x.pt",
        "--data",
        flair_root,
        "--output",
        tmp_path / "p",
    )
    assert result.exit_code == 1 and "x.pt: checkpoint not found" in result.stderr


def test_demo_refuses_to_clobber_a_previous_demo(tmp_path: Path) -> None:
    (tmp_path / "demo" / "run").mkdir(parents=True)
    result = invoke("demo", "--workdir", tmp_path / "demo")
    assert result.exit_code == 1
    assert "holds a previous demo (run); pass --overwrite" in result.stderr


def test_missing_torch_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import_module = baseline.importlib.import_module

    # Refuse the baseline's libraries only: typer imports its own helpers lazily, with this
    # same function, when a command runs first in the process.
    def no_torch(name: str, package: str | None = None):
        if name.split(".")[0] in {"torch", "segmentation_models_pytorch"}:
            raise ImportError(f"No module named {name!r}")
        return real_import_module(name, package)

    monkeypatch.setattr(baseline.importlib, "import_module", no_torch)
    with pytest.raises(
        MissingDependencyError, match=r"needs torch, .* pip install \"flair-kit\[baseline\]\""
    ):
        baseline.require_dependencies()
    result = invoke("baseline", "train", "--config", "flair1-toy-cpu")
    assert result.exit_code == 1 and 'pip install "flair-kit[baseline]"' in result.stderr


def test_the_cli_does_not_import_torch() -> None:
    """score/validate/pack work without torch: importing the CLI must not pull it in."""
    code = "import sys, starting_kit.cli; sys.exit('torch' in sys.modules or 'baseline.train' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_baseline_commands_come_through_the_entry_point() -> None:
    """starting_kit never imports baseline: the root CLI loads baseline.cli as a plugin."""
    from importlib.metadata import entry_points

    from starting_kit.cli import COMMANDS_GROUP

    found = {e.name: e.value for e in entry_points(group=COMMANDS_GROUP)}
    assert found.get("baseline") == "baseline.cli:register"
    code = (
        "import sys, starting_kit.cli; "
        "print(sorted(m for m in ('baseline.cli', 'torch', 'segmentation_models_pytorch') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['baseline.cli']"


def test_train_from_official_csv_lists(
    tiny_model, make_tree, test_config: Path, tmp_path: Path
) -> None:
    from starting_kit.pathlists import format_path_list

    root = make_tree("csvroot")

    def rows(domains: set) -> str:
        listed = []
        for image in sorted((root / "flair_aerial_train").glob("*/*/img/IMG_*.tif")):
            d, z, name = image.parts[-4], image.parts[-3], image.name
            if d in domains:
                mask = name.replace("IMG", "MSK")
                listed.append(
                    (
                        f"flair_aerial_train/{d}/{z}/img/{name}",
                        f"flair_labels_train/{d}/{z}/msk/{mask}",
                    )
                )
        return format_path_list(listed)

    (root / "train.csv").write_text(rows({"D006_2020", "D007_2020"}))
    (root / "val.csv").write_text(rows({"D004_2021", "D014_2020"}))
    args = [
        "baseline",
        "train",
        "--config",
        test_config,
        "--data",
        root / "train.csv",
        "--val",
        root / "val.csv",
    ]
    result = invoke(*args, "--output", tmp_path / "run", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "split.json").read_text())["strategy"] == "explicit"
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(root / "val.csv", tmp_path / "elsewhere" / "val.csv")
    result = invoke(
        *args[:-1],
        tmp_path / "elsewhere" / "val.csv",
        "--output",
        tmp_path / "run2",
        "--epochs",
        "1",
    )
    assert result.exit_code == 1 and "listed files not found under" in result.stderr
