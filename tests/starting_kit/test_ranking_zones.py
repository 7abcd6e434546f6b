"""Where each patch lies (issue 14, item 1): the truth layout, the built-in table, --zones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scoring.counts import PatchCounts, load_counts
from scoring.errors import DataError
from starting_kit.cli import app
from starting_kit.ranking.zones import (
    Location,
    ZoneWarning,
    builtin_zone_table,
    locate_patches,
    read_zones_csv,
)
from tests.starting_kit.ranking_data import layout_ids, write_prediction, write_truth

VENDORED = Path(__file__).resolve().parents[1] / "data" / "ign"
REPOSITORY = Path(__file__).resolve().parents[2]


def _blank(ids: list[int]) -> PatchCounts:
    n = len(ids)
    return PatchCounts(np.array(ids), ("",) * n, ("",) * n, np.zeros((n, 196), dtype=np.int64), "t")


def test_the_shipped_flair1_table_is_ign_test_list() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_zone_tables", REPOSITORY / "benchmarks" / "make_zone_tables.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render_zone_table(VENDORED / "flair-1-paths-test.csv.xz")
    shipped = (REPOSITORY / "starting_kit" / "data" / "flair1-test-zones.csv").read_text()
    assert rendered == shipped
    table = builtin_zone_table("flair1-test-zones.csv")
    assert len(table) == 15_700 and len(set(table.values())) == 193
    assert table[62613] == Location("D012_2019", "Z10_UU")


def test_flat_flair1_ids_get_their_zones_from_the_builtin_table() -> None:
    located, source = locate_patches(_blank([61713, 61813, 77412]))
    assert "built-in zone table" in source
    assert (
        located.zones == ("Z1_UU", "Z2_UF", located.zones[2]) and located.domains[0] == "D012_2019"
    )
    assert located.domains[2] == "D085_2019"


def test_unknown_flat_ids_fall_back_to_patches_with_a_warning() -> None:
    with pytest.warns(ZoneWarning, match="intervals are too narrow"):
        located, source = locate_patches(_blank([1, 2]))
    assert located.zones == ("", "") and "each patch" in source


def test_zones_csv_in_both_forms(tmp_path: Path) -> None:
    plain = tmp_path / "zones.csv"
    plain.write_text("id,domain,zone\n000001,D001_2020,Z1_AA\n2,D001_2020,Z2_AA\n")
    located, source = locate_patches(_blank([1, 2]), plain)
    assert located.zones == ("Z1_AA", "Z2_AA") and source == str(plain)
    paths = tmp_path / "paths.csv"
    paths.write_text(
        "a/D001_2020/Z3_NN/img/IMG_000001.tif,a/D001_2020/Z3_NN/msk/MSK_000001.tif\r\n"
    )
    assert read_zones_csv(paths) == {1: Location("D001_2020", "Z3_NN")}
    with pytest.raises(DataError, match="no zone for 1 of 2 patch ids: 000002"):
        locate_patches(_blank([1, 2]), paths)
    bad = tmp_path / "bad.csv"
    bad.write_text("1,somewhere,Z1_AA\n")
    with pytest.raises(DataError, match=r"bad\.csv:1: .*expected id,domain,zone"):
        read_zones_csv(bad)


def test_score_save_counts_on_a_flat_truth_uses_zones_csv(tmp_path: Path) -> None:
    truth = write_truth(tmp_path / "layout")
    flat = tmp_path / "flat"
    flat.mkdir()
    for mask in (tmp_path / "layout").rglob("MSK_*.tif"):
        shutil.copy(mask, flat / mask.name)
    zones = tmp_path / "zones.csv"
    zones.write_text("".join(f"{t},{d},{z}\n" for t, d, z in layout_ids()))
    preds = write_prediction(tmp_path / "pred", truth, 0.2, seed=1)
    saved = tmp_path / "a.npz"
    result = CliRunner().invoke(
        app, ["score", str(preds), str(flat), "--save-counts", str(saved), "--zones", str(zones)]
    )
    assert result.exit_code == 0, result.output
    counts = load_counts(saved)
    assert counts.zones[0] == "Z1_UU" and counts.domains[-1] == "D071_2020"
    # without --zones the flat truth's ids (FLAIR #1 test ids) come from the built-in table
    out = tmp_path / "c.json"
    result = CliRunner().invoke(
        app,
        ["compare", str(preds), str(preds), "--truth", str(flat), "--replicates", "100",
         "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "built-in zone table" in json.loads(out.read_text())["zones_from"]


def test_an_explicit_zones_csv_wins_over_the_layout_and_says_so(tmp_path: Path) -> None:
    zoned = PatchCounts(
        np.array([1, 2]), ("D001_2020",) * 2, ("Z1_AA", "Z2_AA"), np.zeros((2, 196), np.int64), "t"
    )
    other = tmp_path / "zones.csv"
    other.write_text("1,D002_2021,Z7_BB\n2,D002_2021,Z7_BB\n")
    located, source = locate_patches(zoned, other)
    assert located.zones == ("Z7_BB", "Z7_BB") and located.domains == ("D002_2021",) * 2
    assert source.startswith(str(other)) and "replaces the zones of the truth layout" in source
    same = tmp_path / "same.csv"
    same.write_text("1,D001_2020,Z1_AA\n2,D001_2020,Z2_AA\n")
    assert "the same as the truth layout" in locate_patches(zoned, same)[1]
    # from the CLI: score --save-counts on a <DOMAIN>/<ZONE> truth keeps the --zones zones
    truth = write_truth(tmp_path / "truth")
    zones = tmp_path / "flat-zones.csv"
    zones.write_text("".join(f"{t},D099_2022,Z1_ZZ\n" for t, _, _ in layout_ids()))
    preds = write_prediction(tmp_path / "pred", truth, 0.2, seed=1)
    saved = tmp_path / "a.npz"
    result = CliRunner().invoke(
        app,
        ["score", str(preds), str(tmp_path / "truth"), "--save-counts", str(saved),
         "--zones", str(zones)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(load_counts(saved).domains) == {"D099_2022"}
    # ... and compare of saved counts made on the layout's zones resamples the --zones ones
    layout_counts = tmp_path / "b.npz"
    result = CliRunner().invoke(
        app, ["score", str(preds), str(tmp_path / "truth"), "--save-counts", str(layout_counts)]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "c.json"
    result = CliRunner().invoke(
        app,
        ["compare", str(layout_counts), str(layout_counts), "--names", "x,y", "--zones",
         str(zones), "--replicates", "100", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["zones_from"].startswith(str(zones)) and data["n_zones"] == 1


def test_zones_csv_refuses_an_id_given_two_locations(tmp_path: Path) -> None:
    exact = tmp_path / "exact.csv"
    exact.write_text("061713,D001_2020,Z1_AA\n061713,D001_2020,Z1_AA\n")
    assert read_zones_csv(exact) == {61713: Location("D001_2020", "Z1_AA")}
    clash = tmp_path / "clash.csv"
    clash.write_text(
        "id,domain,zone\n061713,D001_2020,Z1_AA\n2,D001_2020,Z1_AA\n61713,D002_2020,Z1_AA\n"
    )
    with pytest.raises(
        DataError,
        match=r"clash\.csv: id 061713 is listed twice with different locations: "
        r"line 2 D001_2020/Z1_AA, line 4 D002_2020/Z1_AA",
    ):
        read_zones_csv(clash)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("076311,D1,Z1", r"bad\.csv:2: domain 'D1' in .*such as D012_2019"),
        ("076311,D012_2019,Z1", r"bad\.csv:2: zone 'Z1' in .*such as Z12_AU"),
        ("76x311,D012_2019,Z12_AU", r"bad\.csv:2: id '76x311' in .*six digits such as 061713"),
        ("076311,D012_2019", r"bad\.csv:2: .* has 2 fields; expected id,domain,zone"),
    ],
)
def test_zones_csv_errors_say_which_field_is_wrong(tmp_path: Path, row: str, message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(f"061713,D012_2019,Z1_UU\n{row}\n")
    with pytest.raises(DataError, match=message):
        read_zones_csv(bad)
