"""Synthetic Sentinel-2 super-areas for FLAIR #2: time series, cloud/snow masks, product names.

One super-area per zone, on a 10 m grid aligned with Lambert-93 metres: pixel ``(row, col)``
covers ``x in [X0 + 10 col, X0 + 10 (col + 1))`` and ``y in (Y0 - 10 (row + 1), Y0 - 10 row]``.
A patch's centroid is the pixel holding its L93 centre, at least :data:`MIN_MARGIN` pixels from
every edge (the official crop takes up to 56 px each side and does no bounds check).

Reflectance is a mixture of class spectra: inside an aerial patch's footprint the mixture is the
patch's own label fractions (an aerial patch spans 10.24 S2 pixels at 512 px), elsewhere a coarse
class field drawn from the zone's prior. Each class has a material spectrum, a vegetation spectrum
and a greenness curve over the year (:data:`PHENOLOGY`), so the series carries class-dependent
phenology: deciduous trees green up in April and drop their leaves in November, crops peak in
May and are harvested in July, vines leaf out late, conifers stay green, water stays dark.

Bands (index 0-9): B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12; values are reflectance x 10000.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from scoring.classes import MAX_RAW_VALUE
from starting_kit.toydata.scene import class_prior, smooth_noise, urbanity

#: Minimum distance, in S2 pixels, from every centroid to every super-area edge (formats.md 5.1:
#: ``sat_patch_size`` may reach 112, so 56; a few pixels more for safety).
MIN_MARGIN = 58
#: Extra margin drawn per edge, so super-areas differ in size.
MARGIN_SPREAD = 4
#: Sentinel-2 pixel size, metres.
S2_PIXEL_M = 10.0
#: Aerial pixel size, metres.
AERIAL_PIXEL_M = 0.2
#: Aerial pixels per S2 pixel at full coverage (50 x 50).
AERIAL_PER_S2 = round(S2_PIXEL_M / AERIAL_PIXEL_M) ** 2
#: Range of the number of acquisitions per zone (the real average is about 56; fewer keep the toy
#: set small while leaving several dates per month-pair for the monthly averaging).
DATES_RANGE = (8, 14)
#: Acquisitions guaranteed free of cloud and snow in every zone (the official filter needs one).
CLEAR_DATES = 3
#: Mean patch altitude (m) above which a zone's winter dates are mostly snowy.
SNOWY_ALTITUDE_M = 700.0
#: Mask probability at or above which the official filter counts a pixel as cloudy/snowy.
FILTER_PROBABILITY = 60

# Spectra, reflectance x 10000, bands B2 B3 B4 B5 B6 B7 B8 B8A B11 B12.
_LEAF = (300, 620, 280, 1000, 2900, 3500, 3800, 3900, 2000, 950)
_NEEDLE = (240, 450, 230, 680, 1900, 2300, 2500, 2600, 1250, 560)
_SOIL = (900, 1200, 1500, 1750, 1950, 2050, 2150, 2250, 2900, 2350)
_STRAW = (1000, 1350, 1550, 1800, 2250, 2450, 2550, 2650, 3100, 2400)
_WATER = (520, 560, 360, 300, 250, 220, 200, 180, 100, 80)
_ASPHALT = (880, 980, 1040, 1100, 1150, 1200, 1240, 1250, 1420, 1300)
_ROOF = (1300, 1420, 1560, 1650, 1720, 1800, 1850, 1900, 2350, 2050)
_GRAVEL = (1100, 1320, 1460, 1620, 1900, 2020, 2150, 2220, 2650, 2150)
_SNOW = (9000, 9050, 8950, 8700, 8500, 8300, 8100, 8000, 1500, 1000)
_POOL = (1250, 1650, 1300, 800, 500, 420, 360, 320, 150, 100)
_PLASTIC = (3500, 3600, 3700, 3700, 3800, 3900, 4000, 4000, 3800, 3200)
_CLOUD = (5600, 5700, 5900, 6000, 6100, 6200, 6300, 6300, 4600, 3600)


class Phenology(NamedTuple):
    """A class's spectra and greenness over the year.

    greenness(day) = base + amplitude * trapezoid(day; rise_start, rise_end, fall_start,
    fall_end); spectrum = (1 - g) * material + g * vegetation.
    """

    material: tuple[int, ...]
    vegetation: tuple[int, ...]
    base: float
    amplitude: float
    season: tuple[int, int, int, int]  # day-of-year: rise start, rise end, fall start, fall end


_ALL_YEAR = (1, 2, 364, 365)
#: Raw value -> phenology (see the module docstring).
PHENOLOGY: dict[int, Phenology] = {
    1: Phenology(_ROOF, _LEAF, 0.04, 0.0, _ALL_YEAR),
    2: Phenology(_GRAVEL, _LEAF, 0.10, 0.15, (70, 110, 170, 220)),
    3: Phenology(_ASPHALT, _LEAF, 0.02, 0.0, _ALL_YEAR),
    4: Phenology(_SOIL, _LEAF, 0.04, 0.06, (90, 120, 150, 180)),
    5: Phenology(_WATER, _LEAF, 0.0, 0.0, _ALL_YEAR),
    6: Phenology(_SOIL, _NEEDLE, 0.82, 0.08, (100, 140, 250, 290)),
    7: Phenology(_SOIL, _LEAF, 0.15, 0.78, (90, 130, 280, 320)),
    8: Phenology(_SOIL, _LEAF, 0.35, 0.40, (80, 120, 290, 330)),
    9: Phenology(_SOIL, _LEAF, 0.05, 0.60, (125, 170, 255, 295)),
    10: Phenology(_STRAW, _LEAF, 0.45, 0.45, (55, 95, 160, 215)),
    11: Phenology(_STRAW, _LEAF, 0.25, 0.72, (45, 105, 160, 190)),
    12: Phenology(_SOIL, _LEAF, 0.03, 0.28, (240, 270, 300, 330)),
    13: Phenology(_POOL, _LEAF, 0.0, 0.0, _ALL_YEAR),
    14: Phenology(_SNOW, _LEAF, 0.0, 0.0, _ALL_YEAR),
    15: Phenology(_SOIL, _LEAF, 0.30, 0.30, (100, 140, 250, 290)),
    16: Phenology(_SOIL, _NEEDLE, 0.50, 0.40, (90, 130, 280, 320)),
    17: Phenology(_SOIL, _LEAF, 0.40, 0.35, (80, 120, 290, 330)),
    18: Phenology(_PLASTIC, _LEAF, 0.05, 0.0, _ALL_YEAR),
    19: Phenology(_GRAVEL, _LEAF, 0.10, 0.10, (70, 110, 170, 220)),
}


def trapezoid(day: np.ndarray, season: tuple[int, int, int, int]) -> np.ndarray:
    """0 before ``rise_start``, ramps to 1 by ``rise_end``, 1 until ``fall_start``, 0 after.

    >>> trapezoid(np.array([50, 110, 200, 300, 350]), (90, 130, 280, 320)).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    rise_start, rise_end, fall_start, fall_end = season
    up = np.clip((day - rise_start) / max(rise_end - rise_start, 1), 0, 1)
    down = np.clip((fall_end - day) / max(fall_end - fall_start, 1), 0, 1)
    return np.minimum(up, down).astype(np.float64)


def greenness(value: int, day: np.ndarray) -> np.ndarray:
    """A raw class's greenness (0..1) on the given days of the year."""
    pheno = PHENOLOGY[value]
    return pheno.base + pheno.amplitude * trapezoid(day, pheno.season)


def class_spectra(days: Sequence[int]) -> np.ndarray:
    """Spectra of every raw class on the given days: (T, 20, 10) float32, row 0 unused."""
    day = np.asarray(days, dtype=np.float64)
    spectra = np.zeros((len(day), MAX_RAW_VALUE + 1, 10), dtype=np.float32)
    for value, pheno in PHENOLOGY.items():
        green = greenness(value, day)[:, None]
        spectra[:, value] = (1 - green) * np.asarray(pheno.material) + green * np.asarray(
            pheno.vegetation
        )
    return spectra


@dataclass(frozen=True)
class Grid:
    """A zone's super-area grid: origin (L93 metres), shape, and the patches' pixels."""

    x0: float
    y0: float
    height: int
    width: int
    centroids: tuple[tuple[int, int], ...]  # (row, col) per patch, in the order given


def superarea_grid(rng: np.random.Generator, centres: Sequence[tuple[float, float]]) -> Grid:
    """Place a zone's super-area around its patch centres (L93 ``(x, y)``), 10 m pixels."""
    xs = np.array([c[0] for c in centres])
    ys = np.array([c[1] for c in centres])
    left, right, top, bottom = (MIN_MARGIN + rng.integers(0, MARGIN_SPREAD + 1, size=4)).tolist()
    x0 = math.floor(xs.min() / S2_PIXEL_M) * S2_PIXEL_M - left * S2_PIXEL_M
    y0 = math.ceil(ys.max() / S2_PIXEL_M) * S2_PIXEL_M + top * S2_PIXEL_M
    cols = np.floor((xs - x0) / S2_PIXEL_M).astype(int)
    rows = np.floor((y0 - ys) / S2_PIXEL_M).astype(int)
    return Grid(
        x0=x0,
        y0=y0,
        height=int(rows.max()) + bottom + 1,
        width=int(cols.max()) + right + 1,
        centroids=tuple((int(r), int(c)) for r, c in zip(rows, cols, strict=True)),
    )


def footprint_counts(grid: Grid, centre: tuple[float, float], labels: np.ndarray) -> np.ndarray:
    """Count a patch's aerial pixels per (raw class, S2 pixel): (20, H, W) float32.

    Each aerial pixel centre is placed in L93 from the patch transform (0.2 m pixels, north-up,
    centred on ``centre``) and dropped into the S2 pixel that contains it.
    """
    size = labels.shape[0]
    left = centre[0] - size * AERIAL_PIXEL_M / 2
    top = centre[1] + size * AERIAL_PIXEL_M / 2
    offsets = (np.arange(size) + 0.5) * AERIAL_PIXEL_M
    cols = np.floor((left + offsets - grid.x0) / S2_PIXEL_M).astype(np.int64)
    rows = np.floor((grid.y0 - (top - offsets)) / S2_PIXEL_M).astype(np.int64)
    if cols.min() < 0 or rows.min() < 0 or cols.max() >= grid.width or rows.max() >= grid.height:
        raise ValueError("aerial patch footprint falls outside its super-area")
    cell = rows[:, None] * grid.width + cols[None, :]
    keys = labels.astype(np.int64) * (grid.height * grid.width) + cell
    counts = np.bincount(keys.ravel(), minlength=(MAX_RAW_VALUE + 1) * grid.height * grid.width)
    return counts.reshape(MAX_RAW_VALUE + 1, grid.height, grid.width).astype(np.float32)


def background_fractions(rng: np.random.Generator, grid: Grid, letters: str) -> np.ndarray:
    """A coarse class field around the patches: (20, H, W) one-hot float32.

    The class of a pixel is the argmax of prior-weighted smooth noise fields, which gives blobs
    of 50-150 m, the scale of fields and woods.
    """
    prior = class_prior(letters)
    urban = urbanity(letters)
    prior[1] += 0.25 * urban
    prior[3] += 0.15 * urban
    prior /= prior.sum()
    present = np.flatnonzero(prior)
    score = np.stack(
        [np.log(prior[v]) + 1.5 * smooth_noise(rng, grid.height, grid.width, 8.0) for v in present]
    )
    winner = present[score.argmax(axis=0)]
    onehot = np.zeros((MAX_RAW_VALUE + 1, grid.height, grid.width), dtype=np.float32)
    np.put_along_axis(onehot, winner[None].astype(np.intp), 1.0, axis=0)
    return onehot


def mix_fractions(background: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Blend the patches' own class fractions over the background by their coverage."""
    covered = counts.sum(axis=0)
    coverage = np.minimum(covered / AERIAL_PER_S2, 1.0)
    own = counts / np.maximum(covered, 1.0)
    mixed: np.ndarray = own * coverage + background * (1 - coverage)
    return mixed


def acquisition_days(rng: np.random.Generator, year: int, count: int) -> list[dt.date]:
    """``count`` distinct acquisition dates in ``year`` on a 5-day revisit, never 29 February."""
    first = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5)))
    candidates = []
    day = first
    while day.year == year:
        if not (day.month == 2 and day.day == 29):
            candidates.append(day)
        day += dt.timedelta(days=5)
    chosen = rng.choice(len(candidates), size=count, replace=False)
    return [candidates[i] for i in sorted(chosen)]


# Approximate inverse Lambert-93, good to a few km: enough to name a plausible MGRS tile.
def _lon_lat(x: float, y: float) -> tuple[float, float]:
    return 3.0 + (x - 700000.0) / 76000.0, 46.5 + (y - 6600000.0) / 111000.0


_MGRS_SQUARES = ("CJ", "DJ", "EJ", "CK", "DK", "EK", "FJ", "GJ", "FK", "GK", "DH", "EH")
_PROCESSING_BASELINE = {2018: "N0206", 2019: "N0213", 2020: "N0214", 2021: "N0300"}
_ORBITS = (8, 51, 94, 137, 108, 22, 65)


def mgrs_tile(x: float, y: float) -> str:
    """A plausible Sentinel-2 tile name for an L93 position (UTM zone and latitude band right).

    >>> mgrs_tile(650000, 6860000)[:3], mgrs_tile(1000000, 6300000)[:3]
    ('31U', '32T')
    """
    lon, lat = _lon_lat(x, y)
    zone = int((lon + 180) // 6) + 1
    band = "U" if lat >= 48 else "T"
    square = _MGRS_SQUARES[int(abs(x) // 100000 + abs(y) // 100000) % len(_MGRS_SQUARES)]
    return f"{zone}{band}{square}"


def product_names(rng: np.random.Generator, days: Sequence[dt.date], tile: str) -> list[str]:
    """ESA L2A product names, one per date: characters 11-14 hold the year, 15-18 MMDD.

    >>> name = product_names(np.random.default_rng(0), [dt.date(2021, 4, 15)], "31UDP")[0]
    >>> name[:19], name[15:19]
    ('S2A_MSIL2A_20210415', '0415')
    """
    orbit = _ORBITS[int(rng.integers(0, len(_ORBITS)))]
    names = []
    for day in days:
        platform = "S2A" if day.toordinal() % 2 else "S2B"
        sensed = dt.datetime(day.year, day.month, day.day, 10, 30) + dt.timedelta(
            seconds=int(rng.integers(0, 1800))
        )
        produced = sensed + dt.timedelta(seconds=int(rng.integers(3600, 5 * 3600)))
        baseline = _PROCESSING_BASELINE.get(day.year, "N0300")
        names.append(
            f"{platform}_MSIL2A_{sensed:%Y%m%dT%H%M%S}_{baseline}_R{orbit:03d}_T{tile}_"
            f"{produced:%Y%m%dT%H%M%S}"
        )
    return names


class Series(NamedTuple):
    """A zone's Sentinel-2 triplet, in memory."""

    data: np.ndarray  # (T, 10, H, W) uint16
    masks: np.ndarray  # (T, 2, H, W) uint8, channel 0 snow, channel 1 cloud, 0..100
    products: list[str]


def _probability_field(
    rng: np.random.Generator, grid: Grid, cover: float, cell: float
) -> np.ndarray:
    """A 0..100 probability field covering about ``cover`` of the area with values >= 60."""
    noise = smooth_noise(rng, grid.height, grid.width, cell)
    threshold = float(np.quantile(noise, 1 - cover)) if cover < 1 else float(noise.min()) - 1
    probability = FILTER_PROBABILITY + 60 * (noise - threshold)
    return np.clip(probability, 0, 100).astype(np.float32)


def clear_dates(day_of_year: Sequence[int]) -> list[int]:
    """Indices of the dates kept clear: the closest distinct ones to early May, mid-July and
    early October, so the clear part of every series still spans the growing season.

    >>> clear_dates([10, 100, 130, 190, 250, 300])
    [2, 3, 5]
    """
    chosen: list[int] = []
    for target in (120, 200, 280)[:CLEAR_DATES]:
        free = [i for i in range(len(day_of_year)) if i not in chosen]
        if free:
            chosen.append(min(free, key=lambda i: abs(day_of_year[i] - target)))
    return sorted(chosen)


def synthesize_series(
    rng: np.random.Generator,
    grid: Grid,
    fractions: np.ndarray,
    year: int,
    tile: str,
    snowy_zone: bool,
) -> Series:
    """Render a zone's time series, masks and product names.

    Every zone gets :data:`CLEAR_DATES` dates with no mask value at or above 60 (spread over
    spring, summer and autumn), at least one partly cloudy date and at least one date with snow
    (winter dates of a high zone are mostly snowy; lowland zones get a light fall).
    """
    count = int(rng.integers(DATES_RANGE[0], DATES_RANGE[1] + 1))
    days = acquisition_days(rng, year, count)
    day_of_year = [d.timetuple().tm_yday for d in days]
    spectra = class_spectra(day_of_year)  # (T, 20, 10)
    flat = fractions.reshape(fractions.shape[0], -1)
    by_band = spectra.transpose(0, 2, 1).reshape(count * 10, -1)  # (T*10, 20)
    data = (by_band @ flat).reshape(count, 10, grid.height, grid.width)
    # Soil moisture, illumination, sub-pixel texture: a static brightness field per zone.
    data *= 1 + 0.04 * smooth_noise(rng, grid.height, grid.width, 3.0)
    data *= rng.uniform(0.95, 1.05, size=(count, 1, 1, 1)).astype(np.float32)  # atmosphere
    data += rng.normal(0, 40, size=data.shape).astype(np.float32)

    masks = rng.integers(0, 12, size=(count, 2, grid.height, grid.width)).astype(np.float32)
    clear = clear_dates(day_of_year)
    others = [t for t in range(count) if t not in clear]
    cloudy = [t for t in others if rng.random() < 0.35]
    winter = [t for t in others if days[t].month in (1, 2, 3, 12)]
    snowy = [t for t in winter if snowy_zone or rng.random() < 0.2]
    if others and not cloudy:
        cloudy = [others[int(rng.integers(0, len(others)))]]
    if not snowy:
        pool = winter or others
        if pool:
            snowy = [pool[int(rng.integers(0, len(pool)))]]
    for t in snowy:
        cover = rng.uniform(0.5, 1.0) if snowy_zone else rng.uniform(0.1, 0.4)
        probability = _probability_field(rng, grid, cover, 10.0)
        masks[t, 0] = np.maximum(masks[t, 0], probability)
        alpha = (probability / 100)[None] ** 1.5
        data[t] = data[t] * (1 - alpha) + np.asarray(_SNOW, dtype=np.float32)[:, None, None] * alpha
    for t in cloudy:
        probability = _probability_field(rng, grid, rng.uniform(0.15, 0.9), 15.0)
        masks[t, 1] = np.maximum(masks[t, 1], probability)
        alpha = (probability / 100)[None] ** 1.5
        data[t] = (
            data[t] * (1 - alpha) + np.asarray(_CLOUD, dtype=np.float32)[:, None, None] * alpha
        )
    for t in clear:
        masks[t] = np.minimum(masks[t], FILTER_PROBABILITY - 1)
    # Never 0: U-TAE takes an all-zero date for padding.
    data_u16 = np.clip(np.rint(data), 1, 10000).astype(np.uint16)
    masks_u8 = np.clip(np.rint(masks), 0, 100).astype(np.uint8)
    return Series(data_u16, masks_u8, product_names(rng, days, tile))
