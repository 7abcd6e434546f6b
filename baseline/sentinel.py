"""The FLAIR #2 Sentinel-2 pipeline: crop, dates, cloud/snow filter, monthly means, scaling, collate.

Inputs (formats.md section 5): per zone, ``SEN2_sp_<D>-<Z>_data.npy`` (T, 10, H, W) reflectance
x 10000, ``..._masks.npy`` (T, 2, H, W) snow/cloud probabilities 0..100, ``..._products.txt`` (one
ESA product name per line, in the order of the time axis), and the patch centroid (row, col) in
that zone's super-area grid.

What we keep from IGN's baseline and what we change (formats.md sections 6.2, 6.3 and 13):

- the crop is ``sat_patch_size`` pixels centred on the centroid, read from a memory-mapped array;
  a window that leaves the array is an error (IGN wraps around or truncates silently);
- dates come from characters 15..18 (MMDD) of each product name, as offsets in days to the
  reference 15 May 2021 (positive before), as IGN's; ``0229`` gets the offset of 1 March instead
  of crashing (``datetime(2021, 2, 29)``); lines need not be sorted;
- the cloud/snow filter is IGN's (a pixel counts once per channel at or above 60 %, a date is kept
  when that cover is below half the crop), with configurable thresholds; when no date survives,
  the least-covered date is kept with one warning per zone instead of crashing;
- monthly averaging (optional) groups dates by calendar month, whatever their order, and gives each
  month the offset of its 15th;
- scaling (``sentinel.scaling``): ``reflectance`` is one rule whatever the options, value / 10000
  as float32; ``ign`` is IGN's ``img_as_float`` where IGN applies it: the float64 monthly means
  stay raw (0..10000), a series without monthly means is divided by its integer dtype's maximum
  (65535 for uint16), float data stays as it is;
- batches pad the time axis with zeros **and an explicit boolean mask** (True = a real date); the
  model ignores padded dates by that mask, never by testing values for zero.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import default_collate

from baseline.config import SentinelConfig
from scoring.errors import DataError, FlairKitWarning

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from starting_kit.discovery import SentinelFiles

#: Reference date of the day offsets (IGN: 15 May), as (month, day).
REFERENCE_MONTH_DAY = (5, 15)
#: Characters of a product name holding MMDD (IGN's ``line[15:19]``).
MMDD_SLICE = slice(15, 19)
#: IGN's reference year: every date is rebuilt in it, whatever the year of the product.
REFERENCE_YEAR = 2021
#: A leap year, in which product dates are checked (29 February is a valid acquisition date).
_CALENDAR_YEAR = 2020
#: Sentinel-2 L2A values are reflectance x 10000.
REFLECTANCE_SCALE = 10000.0
#: Number of Sentinel-2 bands in the FLAIR #2 arrays.
NUM_S2_BANDS = 10


def day_offset(month: int, day: int) -> int:
    """Days from (month, day) to 15 May 2021: positive before, negative after (formats.md 14.3).

    IGN rebuilds every date in 2021 and crashes on 29 February; here 29 February gets the offset of
    1 March (the day after 28 February in 2021), and stays in February for the monthly means.

    >>> day_offset(1, 8), day_offset(5, 15), day_offset(7, 28), day_offset(2, 29), day_offset(3, 1)
    (127, 0, -74, 75, 75)
    """
    if (month, day) == (2, 29):
        return day_offset(3, 1)
    reference = dt.date(REFERENCE_YEAR, *REFERENCE_MONTH_DAY)
    return (reference - dt.date(REFERENCE_YEAR, month, day)).days


def parse_product_dates(lines: Sequence[str], source: str = "products") -> list[tuple[int, int]]:
    """(month, day) of each product name, from characters 15..18 (MMDD), in line order.

    Blank lines are skipped (IGN's ``splitlines`` would keep them and crash later).

    >>> parse_product_dates(["S2A_MSIL2A_20200229T105021_N0300", "S2B_MSIL2A_20190108T1"])
    [(2, 29), (1, 8)]

    Raises:
        DataError: a line too short or whose MMDD is not a calendar date (file, line, text named).
    """
    dates: list[tuple[int, int]] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        mmdd = text[MMDD_SLICE]
        try:
            month, day = int(mmdd[:2]), int(mmdd[2:])
            dt.date(_CALENDAR_YEAR, month, day)
        except ValueError:
            raise DataError(
                f"{source}: line {number} {text!r} has no MMDD date at characters 15-18 (found "
                f"{mmdd!r}); expected ESA product names such as "
                "S2A_MSIL2A_20210415T105021_N0300_R051_T31UDP_20210415T135921"
            ) from None
        dates.append((month, day))
    return dates


def cloud_cover(masks: NDArray[Any], probability_threshold: int = 60) -> NDArray[np.float64]:
    """IGN's per-date cover of a cropped (T, 2, h, w) snow/cloud mask: flagged pixels / (h * w).

    A pixel flagged in both channels counts twice, as in IGN's ``filter_dates``.

    >>> m = np.zeros((2, 2, 2, 2), np.uint8); m[1, 0, 0, 0] = 60; m[1, 1, 0, 0] = 99
    >>> cloud_cover(m).tolist()
    [0.0, 0.5]
    """
    height, width = masks.shape[-2:]
    flagged = (np.asarray(masks).astype(np.int64) >= probability_threshold).sum(axis=(1, 2, 3))
    return flagged / float(height * width)


def select_clear_dates(
    cover: NDArray[np.float64], area_threshold: float = 0.5
) -> tuple[NDArray[np.int64], bool]:
    """Indices of dates with ``cover < area_threshold``; if none, the least-covered date.

    Returns:
        (kept indices in time order, whether the fallback was used).

    >>> select_clear_dates(np.array([0.1, 0.9, 0.4]))
    (array([0, 2]), False)
    >>> select_clear_dates(np.array([0.9, 0.6, 0.7]))
    (array([1]), True)
    """
    kept = np.flatnonzero(cover < area_threshold)
    if kept.size:
        return kept, False
    return np.array([int(np.argmin(cover))]), True


def monthly_means(
    series: NDArray[np.float32], dates: Sequence[tuple[int, int]]
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Average the dates of each calendar month; each month gets the offset of its 15th.

    Months come out in calendar order whatever the order of ``dates``.

    Returns:
        ((M, C, h, w) float32 means, (M,) day offsets).

    >>> x = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
    >>> means, offsets = monthly_means(x, [(7, 28), (1, 8), (7, 2)])
    >>> means.ravel().tolist(), offsets.tolist()
    ([1.0, 1.0], [120, -61])
    """
    months = np.array([m for m, _ in dates])
    chosen = sorted(set(months.tolist()))
    means = np.stack([series[months == m].mean(axis=0, dtype=np.float64) for m in chosen])
    offsets = np.array([day_offset(m, 15) for m in chosen], dtype=np.int64)
    return means.astype(np.float32), offsets


def crop_window(
    shape: Sequence[int], centroid: tuple[int, int], size: int, source: str
) -> tuple[slice, slice]:
    """Rows and columns of the ``size`` x ``size`` window centred on ``centroid`` (row, col).

    Raises:
        DataError: the window leaves the (H, W) array (file, centroid, window and shape named).
    """
    height, width = int(shape[-2]), int(shape[-1])
    row, col = centroid
    half = size // 2
    top, left = row - half, col - half
    if top < 0 or left < 0 or top + size > height or left + size > width:
        raise DataError(
            f"{source}: the {size}x{size} window around centroid (row {row}, col {col}) spans rows "
            f"{top}..{top + size - 1} and columns {left}..{left + size - 1} but the super-area is "
            f"{height}x{width}; use a smaller sentinel.patch_size or check the centroid JSON"
        )
    return slice(top, top + size), slice(left, left + size)


def _stamp(path: Path) -> tuple[str, int, int]:
    """Cache key of a file: its path, modification time and size (a rewritten file is re-read)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: Sentinel-2 file not found") from None
    return str(path), stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=64)
def _open_array(path: str, *_version: int) -> NDArray[Any]:
    """A memory-mapped super-area array (cached per process: zones hold many patches)."""
    try:
        return np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise DataError(f"{path}: Sentinel-2 array not found") from None
    except ValueError as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None


@lru_cache(maxsize=64)
def _zone_dates(path: str, *_version: int) -> tuple[tuple[int, int], ...]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(parse_product_dates(lines, source=path))


#: Zones already reported by the no-clear-date warning (one warning per zone and process).
_warned_zones: set[str] = set()


def read_series(
    files: SentinelFiles, centroid: tuple[int, int], options: SentinelConfig
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The prepared series of one patch: ((T', 10, s, s) reflectance float32, (T',) day offsets).

    Raises:
        DataError: unreadable files, shapes that disagree (time axis, bands), or a crop window that
            leaves the super-area.
    """
    data = _open_array(*_stamp(files.data))
    masks = _open_array(*_stamp(files.masks))
    dates = _zone_dates(*_stamp(files.products))
    if data.ndim != 4 or data.shape[1] != NUM_S2_BANDS:
        raise DataError(
            f"{files.data}: shape {data.shape}; expected (T, {NUM_S2_BANDS}, H, W) Sentinel-2 data"
        )
    if masks.ndim != 4 or masks.shape[1] != 2 or masks.shape[0] != data.shape[0]:
        raise DataError(
            f"{files.masks}: shape {masks.shape}; expected ({data.shape[0]}, 2, H, W) to match "
            f"{files.data.name} {data.shape}"
        )
    if len(dates) != data.shape[0]:
        raise DataError(
            f"{files.products}: {len(dates)} product names but {files.data.name} has "
            f"{data.shape[0]} dates; expected one line per date"
        )
    rows, cols = crop_window(data.shape, centroid, options.patch_size, str(files.data))
    series = scale_series(data[:, :, rows, cols], options, str(files.data))
    kept = np.arange(len(dates))
    if options.filter_clouds:
        cover = cloud_cover(masks[:, :, rows, cols], options.probability_threshold)
        kept, fallback = select_clear_dates(cover, options.area_threshold)
        if fallback and str(files.data) not in _warned_zones:
            _warned_zones.add(str(files.data))
            warnings.warn(
                f"{files.data}: no date passes the cloud/snow filter around centroid {centroid} "
                f"(least cover {cover.min():.2f} >= {options.area_threshold}); keeping the "
                "least-covered date (further patches of this zone are not reported)",
                FlairKitWarning,
                stacklevel=2,
            )
    series = series[kept]
    chosen = [dates[i] for i in kept]
    if options.average_month:
        series, offsets = monthly_means(series, chosen)
    else:
        offsets = np.array([day_offset(*d) for d in chosen], dtype=np.int64)
    return np.ascontiguousarray(series), offsets.astype(np.float32)


def scale_series(raw: NDArray[Any], options: SentinelConfig, source: str) -> NDArray[np.float32]:
    """The stored values as the model's float32 input, under ``options.scaling``.

    >>> raw = np.array([0, 6553, 65535], dtype=np.uint16)
    >>> scale_series(raw, SentinelConfig(), "x").tolist()
    [0.0, 0.6553000211715698, 6.553500175476074]
    >>> scale_series(raw, SentinelConfig(scaling="ign"), "x").tolist()  # monthly means: raw
    [0.0, 6553.0, 65535.0]
    >>> scale_series(raw, SentinelConfig(scaling="ign", average_month=False), "x").tolist()
    [0.0, 0.09999237209558487, 1.0]

    Raises:
        DataError: ``ign`` scaling without monthly means for signed integer data (whose
            ``img_as_float`` mapping changed between scikit-image releases).
    """
    if options.scaling == "reflectance":
        return np.asarray(raw, dtype=np.float32) / np.float32(REFLECTANCE_SCALE)
    if options.average_month or raw.dtype.kind == "f":
        # IGN's img_as_float meets float64 monthly means (or float data): it changes nothing.
        return np.asarray(raw, dtype=np.float32)
    if raw.dtype.kind in "ub":
        # img_as_float multiplies by 1 / max in float64; IGN's Dataset then casts to float32.
        factor = 1.0 / float(np.iinfo(raw.dtype).max) if raw.dtype.kind == "u" else 1.0
        return (np.asarray(raw, dtype=np.float64) * factor).astype(np.float32)
    raise DataError(
        f"{source}: Sentinel-2 data of dtype {raw.dtype}: sentinel.scaling 'ign' without "
        "average_month reproduces IGN's img_as_float for unsigned integer or float data only; "
        "use sentinel.scaling: reflectance or average_month: true"
    )


def pad_series(
    series: Sequence[torch.Tensor], offsets: Sequence[torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad variable-length series at the end of the time axis.

    Returns:
        (B, T_max, C, h, w) series padded with zeros, (B, T_max) offsets padded with zeros, and the
        (B, T_max) boolean mask, True on real dates.

    >>> s, d, m = pad_series([torch.ones(1, 1, 2, 2), torch.ones(2, 1, 2, 2)],
    ...                      [torch.tensor([3.0]), torch.tensor([1.0, 2.0])])
    >>> tuple(s.shape), d.tolist(), m.tolist()
    ((2, 2, 1, 2, 2), [[3.0, 0.0], [1.0, 2.0]], [[True, False], [True, True]])
    """
    length = max(int(s.shape[0]) for s in series)
    batch = len(series)
    padded = series[0].new_zeros((batch, length, *series[0].shape[1:]))
    dates = offsets[0].new_zeros((batch, length))
    mask = torch.zeros((batch, length), dtype=torch.bool)
    for i, (values, days) in enumerate(zip(series, offsets, strict=True)):
        padded[i, : values.shape[0]] = values
        dates[i, : days.shape[0]] = days
        mask[i, : values.shape[0]] = True
    return padded, dates, mask


def collate_with_series(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """DataLoader collate: default collation, plus padded ``sentinel``/``dates`` and ``date_mask``."""
    if "sentinel" not in items[0]:
        return default_collate(list(items))
    rest = [{k: v for k, v in item.items() if k not in ("sentinel", "dates")} for item in items]
    batch = default_collate(rest)
    batch["sentinel"], batch["dates"], batch["date_mask"] = pad_series(
        [item["sentinel"] for item in items], [item["dates"] for item in items]
    )
    return batch
