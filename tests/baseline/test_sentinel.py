"""The Sentinel-2 pipeline: dates, filter edge cases, crop, scaling, monthly means, padded collate."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from baseline.config import SentinelConfig
from baseline.sentinel import (
    cloud_cover,
    collate_with_series,
    crop_window,
    day_offset,
    monthly_means,
    pad_series,
    parse_product_dates,
    read_series,
    select_clear_dates,
)
from scoring.errors import DataError, FlairKitWarning
from starting_kit.discovery import SentinelFiles


def product(mmdd: str, year: str = "2021") -> str:
    return f"S2A_MSIL2A_{year}{mmdd}T105021_N0300_R051_T31UDP_{year}{mmdd}T135921"


def write_zone(
    folder: Path,
    dates: list[str],
    *,
    size: int = 24,
    cloudy: dict[int, float] | None = None,
    name: str = "SEN2_sp_D001_2020-Z1_UU",
) -> SentinelFiles:
    """A tiny super-area: value = 1000 * (t + 1) + band, masks 0 except the ``cloudy`` shares."""
    folder.mkdir(parents=True, exist_ok=True)
    t = len(dates)
    data = np.zeros((t, 10, size, size), np.uint16)
    for i in range(t):
        data[i] = (1000 * (i + 1) + np.arange(10, dtype=np.uint16))[:, None, None]
    masks = np.zeros((t, 2, size, size), np.uint8)
    for i, share in (cloudy or {}).items():
        rows = round(share * size)
        masks[i, 1, :rows, :] = 90  # cloud over the first rows: the whole crop's share if centred
    files = SentinelFiles(
        folder / f"{name}_data.npy", folder / f"{name}_masks.npy", folder / f"{name}_products.txt"
    )
    np.save(files.data, data)
    np.save(files.masks, masks)
    files.products.write_text("\n".join(product(d) for d in dates) + "\n", encoding="utf-8")
    return files


def test_day_offsets_match_the_worked_examples() -> None:
    # formats.md 14.3: offsets to 15 May, positive before.
    assert [day_offset(*d) for d in [(1, 8), (4, 15), (5, 15), (7, 28), (12, 24)]] == [
        127,
        30,
        0,
        -74,
        -223,
    ]
    assert [day_offset(m, 15) for m in (1, 7, 12)] == [120, -61, -214]


def test_leap_day_and_unsorted_lines() -> None:
    lines = [product("0728"), "", product("0229", "2020"), product("0108")]
    assert parse_product_dates(lines) == [(7, 28), (2, 29), (1, 8)]
    # 29 February does not exist in IGN's reference year 2021: it gets 1 March's offset.
    assert day_offset(2, 28) - 1 == day_offset(2, 29) == day_offset(3, 1) == 75
    _, offsets = monthly_means(np.ones((2, 1, 1, 1), np.float32), [(2, 29), (3, 1)])
    assert offsets.tolist() == [day_offset(2, 15), day_offset(3, 15)]  # still February


def test_a_product_line_without_a_date_is_named() -> None:
    with pytest.raises(DataError, match=r"zone.txt: line 2 'S2A_bogus' has no MMDD date"):
        parse_product_dates([product("0101"), "S2A_bogus"], source="zone.txt")
    with pytest.raises(DataError, match=r"line 1 .* \(found '1332'\)"):
        parse_product_dates([product("1332")])


def test_cloud_cover_counts_both_channels_and_the_threshold() -> None:
    masks = np.zeros((3, 2, 2, 2), np.uint8)
    masks[0, 0, 0, 0] = 59  # below the threshold
    masks[1, :, 0, 0] = 60  # flagged in both channels: counted twice
    masks[2, 1] = 100
    assert cloud_cover(masks).tolist() == [0.0, 0.5, 1.0]
    assert cloud_cover(masks, probability_threshold=50).tolist() == [0.25, 0.5, 1.0]


def test_filter_keeps_dates_strictly_below_the_area_threshold() -> None:
    kept, fallback = select_clear_dates(np.array([0.49, 0.5, 0.2]))
    assert kept.tolist() == [0, 2] and not fallback


def test_filter_without_survivor_keeps_the_least_covered_date() -> None:
    kept, fallback = select_clear_dates(np.array([0.9, 0.7, 0.7, 1.0]))
    assert kept.tolist() == [1] and fallback  # the first of equally covered dates


def test_monthly_means_group_unsorted_dates_by_month() -> None:
    series = np.arange(4, dtype=np.float32).reshape(4, 1, 1, 1)
    means, offsets = monthly_means(series, [(7, 28), (1, 8), (7, 2), (1, 31)])
    assert means.ravel().tolist() == [2.0, 1.0]  # January (1, 3), July (0, 2)
    assert offsets.tolist() == [120, -61]


def test_read_series_crops_around_the_centroid_and_scales_once(tmp_path: Path) -> None:
    files = write_zone(tmp_path, ["0301", "0110", "0315"], size=24)
    raw = np.load(files.data)
    options = SentinelConfig(patch_size=8, average_month=False)
    series, offsets = read_series(files, (10, 12), options)
    assert series.shape == (3, 10, 8, 8) and series.dtype == np.float32
    np.testing.assert_allclose(series, raw[:, :, 6:14, 8:16] / 10000.0, rtol=1e-6)
    assert offsets.tolist() == [75.0, 125.0, 61.0]  # line order, unsorted
    averaged, months = read_series(files, (10, 12), SentinelConfig(patch_size=8))
    # The same reflectance scale with and without the monthly averaging.
    np.testing.assert_allclose(averaged[0], series[1], rtol=1e-6)
    np.testing.assert_allclose(averaged[1], (series[0] + series[2]) / 2, rtol=1e-6)
    assert months.tolist() == [120.0, 61.0]


def test_ign_scaling_follows_img_as_float_where_ign_applies_it(tmp_path: Path) -> None:
    files = write_zone(tmp_path, ["0301", "0110", "0315"], size=24)
    raw = np.load(files.data)[:, :, 6:14, 8:16].astype(np.float64)
    ign = SentinelConfig(patch_size=8, scaling="ign")
    # Monthly means: float64 means of the raw values, which img_as_float leaves as they are.
    means, _ = read_series(files, (10, 12), ign)
    np.testing.assert_array_equal(means[0], raw[1].astype(np.float32))
    np.testing.assert_array_equal(means[1], ((raw[0] + raw[2]) / 2).astype(np.float32))
    # No monthly means: uint16 values times 1 / 65535 in float64, then float32.
    unaveraged = SentinelConfig(patch_size=8, scaling="ign", average_month=False)
    series, _ = read_series(files, (10, 12), unaveraged)
    np.testing.assert_array_equal(series, (raw * (1.0 / 65535)).astype(np.float32))
    signed = write_zone(tmp_path / "signed", ["0301"], size=24)
    np.save(signed.data, np.load(signed.data).astype(np.int16))
    with pytest.raises(DataError, match=r"dtype int16: sentinel.scaling 'ign' without"):
        read_series(signed, (10, 12), unaveraged)


def test_crop_window_leaving_the_array_is_an_error(tmp_path: Path) -> None:
    files = write_zone(tmp_path, ["0301"], size=24)
    with pytest.raises(
        DataError, match=r"_data.npy: the 16x16 window around centroid \(row 5, col 12\)"
    ):
        read_series(files, (5, 12), SentinelConfig(patch_size=16))
    with pytest.raises(DataError, match=r"columns 18\.\.25 but the super-area is 24x24"):
        crop_window((24, 24), (12, 22), 8, "x")


def test_filter_drops_cloudy_dates_and_falls_back_with_one_warning(tmp_path: Path) -> None:
    files = write_zone(tmp_path / "a", ["0110", "0210", "0310"], cloudy={1: 1.0})
    options = SentinelConfig(patch_size=8, average_month=False)
    series, offsets = read_series(files, (12, 12), options)
    assert offsets.tolist() == [125.0, 66.0]
    assert series[1, 0, 0, 0] == pytest.approx(3000 / 10000)

    covered = write_zone(
        tmp_path / "b", ["0110", "0210"], cloudy={0: 1.0, 1: 1.0}, name="SEN2_sp_D002_2020-Z2_UU"
    )
    covered_masks = np.load(covered.masks)
    covered_masks[0, 1, 8:16, 8:16] = 90
    covered_masks[1, 1, 8:16, 8:16] = 0
    covered_masks[1, 0, 8:16, 8:14] = 90  # 48 of 64 pixels: less covered than date 0
    np.save(covered.masks, covered_masks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, first_days = read_series(covered, (12, 12), options)
        read_series(covered, (11, 12), options)  # same zone: not reported again
    messages = [str(w.message) for w in caught if issubclass(w.category, FlairKitWarning)]
    assert len(messages) == 1
    assert "no date passes the cloud/snow filter" in messages[0]
    assert "keeping the least-covered date" in messages[0]
    assert first.shape[0] == 1 and first_days.tolist() == [94.0]
    # Configurable thresholds: a looser area threshold keeps the partly covered date normally.
    loose = SentinelConfig(patch_size=8, average_month=False, area_threshold=1.0)
    assert read_series(covered, (12, 12), loose)[1].tolist() == [94.0]
    unfiltered = SentinelConfig(patch_size=8, filter_clouds=False, average_month=False)
    assert read_series(covered, (12, 12), unfiltered)[1].tolist() == [125.0, 94.0]


def test_mismatched_triplet_is_an_error(tmp_path: Path) -> None:
    files = write_zone(tmp_path, ["0110", "0210"])
    files.products.write_text(product("0110") + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"_products.txt: 1 product names but .* has 2 dates"):
        read_series(files, (12, 12), SentinelConfig(patch_size=8))
    files.products.write_text(product("0110") + "\n" + product("0210") + "\n", encoding="utf-8")
    np.save(files.masks, np.zeros((2, 3, 24, 24), np.uint8))
    with pytest.raises(
        DataError, match=r"_masks.npy: shape \(2, 3, 24, 24\); expected \(2, 2, H, W\)"
    ):
        read_series(files, (12, 12), SentinelConfig(patch_size=8))
    files.masks.unlink()
    with pytest.raises(DataError, match=r"_masks.npy: Sentinel-2 file not found"):
        read_series(files, (12, 12), SentinelConfig(patch_size=8))


def test_collate_pads_with_an_explicit_mask() -> None:
    items = [
        {"image": torch.zeros(5, 4, 4), "index": 0, "sentinel": torch.ones(2, 10, 8, 8), "dates": torch.tensor([5.0, 0.0])},
        {"image": torch.zeros(5, 4, 4), "index": 1, "sentinel": torch.ones(3, 10, 8, 8), "dates": torch.tensor([1.0, 2.0, 3.0])},
    ]  # fmt: skip
    batch = collate_with_series(items)
    assert batch["sentinel"].shape == (2, 3, 10, 8, 8)
    # A real date whose offset is 0 (15 May) stays real: the mask, not the value, says so.
    assert batch["date_mask"].tolist() == [[True, True, False], [True, True, True]]
    assert batch["dates"].tolist() == [[5.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
    assert batch["index"].tolist() == [0, 1]
    plain = collate_with_series([{"image": torch.zeros(1), "index": 0}])
    assert set(plain) == {"image", "index"}
    series, _, mask = pad_series([torch.ones(1, 1, 1, 1)], [torch.zeros(1)])
    assert mask.dtype == torch.bool and series.shape == (1, 1, 1, 1, 1)
