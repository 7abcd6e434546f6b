"""Synthetic aerial patches: a label map of plausible regions and its 5-band image.

Geometry is drawn in patch-relative coordinates (0..1 across the patch), so a scene keeps its
layout whatever ``--size`` is: at 512 px (102.4 m at 0.2 m) fields are 30-60 m across, roads
5-9 m wide, houses 8-22 m long; at 64 px the same scene is simply coarser. Textures are drawn in
pixels where they are pixel-scale phenomena (grain) and in patch units otherwise (crowns, rows).

All functions are pure numpy; randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from scoring.classes import MAX_RAW_VALUE, NUM_SCORED_CLASSES


class Look(NamedTuple):
    """How a raw class looks in the 5 aerial bands (uint8 scale)."""

    red: float
    green: float
    blue: float
    nir: float
    height: float  # band 5, the nDSM: 0 on the ground, high on trees and roofs
    jitter: float  # std of the per-region offset (one field differs from the next)
    grain: float  # std of the per-pixel noise


#: Raw value -> look. The 12 scored classes are at least 45 apart in (R, G, B, NIR, height)
#: (tests/starting_kit/test_toydata.py checks it), so a per-pixel classifier separates them.
LOOKS: dict[int, Look] = {
    1: Look(160, 112, 102, 88, 125, 10, 4),  # building: bright roofs, high and flat
    2: Look(146, 142, 134, 104, 4, 6, 6),  # pervious surface: grey gravel, low NIR
    3: Look(80, 84, 90, 62, 2, 5, 4),  # impervious surface: dark asphalt, lowest NIR on land
    4: Look(178, 136, 84, 142, 3, 6, 6),  # bare soil: orange-brown, mid NIR
    5: Look(36, 64, 86, 16, 1, 4, 3),  # water: dark blue, NIR near 0, smooth
    6: Look(36, 64, 44, 140, 130, 5, 6),  # coniferous: darkest green, tall, crowns
    7: Look(70, 118, 58, 210, 95, 6, 6),  # deciduous: bright green, highest NIR, tall, crowns
    8: Look(92, 108, 64, 166, 34, 6, 6),  # brushwood: green-brown, high NIR, 2-6 m, patchy
    9: Look(134, 118, 110, 146, 16, 5, 5),  # vineyard: purplish rows over soil, low height
    10: Look(116, 162, 84, 186, 4, 6, 6),  # herbaceous vegetation: light green, on the ground
    11: Look(190, 182, 104, 176, 8, 6, 5),  # agricultural land: yellow crops, smooth
    12: Look(118, 92, 74, 94, 3, 6, 6),  # plowed land: brown furrows, low NIR
    13: Look(70, 186, 206, 44, 1, 4, 3),  # swimming pool: cyan
    14: Look(238, 240, 244, 226, 3, 3, 3),  # snow: white everywhere
    15: Look(136, 118, 88, 138, 12, 6, 6),  # clear cut
    16: Look(54, 92, 52, 176, 112, 5, 6),  # mixed forest
    17: Look(100, 132, 72, 188, 46, 6, 6),  # ligneous
    18: Look(212, 218, 222, 168, 34, 4, 3),  # greenhouse: white plastic
    19: Look(132, 68, 132, 120, 40, 6, 6),  # other
}

#: Look table as an array: row = raw value (row 0 unused), columns = the 5 band means.
MEANS = np.zeros((MAX_RAW_VALUE + 1, 5), dtype=np.float32)
JITTER = np.zeros(MAX_RAW_VALUE + 1, dtype=np.float32)
GRAIN = np.zeros(MAX_RAW_VALUE + 1, dtype=np.float32)
for _value, _look in LOOKS.items():
    MEANS[_value] = _look[:5]
    JITTER[_value] = _look.jitter
    GRAIN[_value] = _look.grain

#: Roof colours (R, G, B): red tiles, grey concrete, dark slate, light render.
ROOF_PALETTE = np.array(
    [[176, 98, 84], [140, 134, 132], [112, 104, 110], [192, 158, 136]], dtype=np.float32
)

#: Background class weights per landscape letter of the zone name (U urban, A agricultural,
#: N natural, F forest; any other letter counts as N).
PRIORS: dict[str, dict[int, float]] = {
    "U": {2: 3.0, 10: 3.0, 7: 2.0, 3: 1.0, 4: 0.5, 8: 0.6, 5: 0.3},
    "A": {11: 4.0, 12: 2.2, 10: 2.0, 9: 1.4, 4: 0.7, 7: 0.5, 8: 0.4},
    "N": {10: 3.0, 8: 2.5, 7: 1.5, 4: 1.0, 5: 1.2, 6: 1.0},
    "F": {7: 4.0, 6: 2.5, 8: 1.0, 10: 0.6, 5: 0.2},
}
#: Classes drawn as background regions; 1 (buildings) and 3 (roads) are also drawn as objects.
RARE_CLASSES = tuple(range(NUM_SCORED_CLASSES + 1, MAX_RAW_VALUE + 1))


def class_prior(letters: str) -> np.ndarray:
    """Background class probabilities (index = raw value) for a zone's two letters.

    >>> p = class_prior("AA"); round(float(p.sum()), 6), int(p.argmax())
    (1.0, 11)
    """
    prior = np.zeros(MAX_RAW_VALUE + 1, dtype=np.float64)
    for letter, share in zip(letters[:2], (0.6, 0.4), strict=False):
        weights = PRIORS.get(letter, PRIORS["N"])
        total = sum(weights.values())
        for value, weight in weights.items():
            prior[value] += share * weight / total
    return prior / float(prior.sum())


def urbanity(letters: str) -> float:
    """How urban a zone is, 0..1, from its letters (the first one weighs more).

    >>> urbanity("UU"), urbanity("UA"), urbanity("AU"), urbanity("NF")
    (1.0, 0.6, 0.4, 0.0)
    """
    return float(
        sum(share for letter, share in zip(letters[:2], (0.6, 0.4), strict=False) if letter == "U")
    )


@functools.lru_cache(maxsize=64)
def _interpolation(n_out: int, n_grid: int) -> np.ndarray:
    """A (n_out, n_grid) matrix doing linear interpolation from a coarse grid to pixel centres."""
    position = (np.arange(n_out) + 0.5) / n_out * (n_grid - 1)
    low = np.minimum(np.floor(position).astype(np.intp), n_grid - 2)
    weight = (position - low).astype(np.float32)
    matrix = np.zeros((n_out, n_grid), dtype=np.float32)
    rows = np.arange(n_out)
    matrix[rows, low] = 1 - weight
    matrix[rows, low + 1] = weight
    matrix.setflags(write=False)
    return matrix


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-std value noise whose blobs are about ``cell`` pixels across.

    Bilinear interpolation of a coarse Gaussian grid, done as two small matrix products.
    """
    rows = max(2, min(height + 1, math.ceil(height / max(cell, 1e-6)) + 1))
    cols = max(2, min(width + 1, math.ceil(width / max(cell, 1e-6)) + 1))
    grid = rng.standard_normal((rows, cols)).astype(np.float32)
    field: np.ndarray = _interpolation(height, rows) @ grid @ _interpolation(width, cols).T
    std = float(field.std())
    return field / std if std > 0 else field


@dataclass
class Scene:
    """A label map under construction, with what the renderer needs to texture it."""

    labels: np.ndarray  # (s, s) uint8 raw values
    regions: np.ndarray  # (s, s) int32: a region (field, building, road) per pixel
    angle: list[float]  # per region: orientation of rows/furrows, radians
    roof: np.ndarray  # (s, s) float32: -1/+1 roof halves, 0 elsewhere
    height: np.ndarray  # (s, s) float32: building heights (band 5), 0 elsewhere

    def new_region(self, angle: float) -> int:
        self.angle.append(angle)
        return len(self.angle) - 1


def _axes(size: int) -> np.ndarray:
    return ((np.arange(size, dtype=np.float32) + 0.5) / size).astype(np.float32)


def _background(rng: np.random.Generator, size: int, prior: np.ndarray, forced: int) -> Scene:
    """Warped Voronoi fields (organic borders), each of one class drawn from the zone prior."""
    count = int(rng.integers(4, 10))
    seeds = rng.uniform(-0.1, 1.1, size=(count, 2)).astype(np.float32)
    axis = _axes(size)
    # Borders wander by about 3 % of the patch (3 m at 512 px), like hedges and paths do.
    v = axis[:, None] + 0.03 * smooth_noise(rng, size, size, size / 3)
    u = axis[None, :] + 0.03 * smooth_noise(rng, size, size, size / 3)
    nearest = np.zeros((size, size), dtype=np.int32)
    best = np.full((size, size), np.inf, dtype=np.float32)
    for index, (su, sv) in enumerate(seeds):
        distance = (u - su) ** 2 + (v - sv) ** 2
        closer = distance < best
        best = np.where(closer, distance, best)
        nearest[closer] = index
    classes = rng.choice(len(prior), size=count, p=prior)
    if forced not in (1, 3) and forced not in classes:
        # The largest field takes the forced class, so every class shows up across a split.
        classes[int(np.bincount(nearest.ravel(), minlength=count).argmax())] = forced
    labels = classes.astype(np.uint8)[nearest]
    angles = [float(a) for a in rng.uniform(0, math.pi, size=count)]
    zeros = np.zeros((size, size), dtype=np.float32)
    return Scene(labels, nearest, angles, zeros, zeros.copy())


def _window(cu: float, cv: float, reach: float, size: int) -> tuple[slice, slice]:
    lo_r = max(0, int((cv - reach) * size))
    hi_r = min(size, math.ceil((cv + reach) * size) + 1)
    lo_c = max(0, int((cu - reach) * size))
    hi_c = min(size, math.ceil((cu + reach) * size) + 1)
    return slice(lo_r, hi_r), slice(lo_c, hi_c)


def _rectangle(
    size: int, cu: float, cv: float, half_long: float, half_short: float, angle: float
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """Pixels of a rotated rectangle: its window, an inside mask and the across-axis position."""
    window = _window(cu, cv, math.hypot(half_long, half_short), size)
    axis = _axes(size)
    dv = axis[window[0]][:, None] - cv
    du = axis[window[1]][None, :] - cu
    along = du * math.cos(angle) + dv * math.sin(angle)
    across = -du * math.sin(angle) + dv * math.cos(angle)
    inside = (np.abs(along) < half_long) & (np.abs(across) < half_short)
    return window, inside, across / half_short


def _ellipse(
    size: int, cu: float, cv: float, radius: float, squash: float, angle: float
) -> tuple[tuple[slice, slice], np.ndarray]:
    """Pixels of a rotated ellipse: its window and an inside mask."""
    window = _window(cu, cv, radius, size)
    axis = _axes(size)
    dv = axis[window[0]][:, None] - cv
    du = axis[window[1]][None, :] - cu
    along = du * math.cos(angle) + dv * math.sin(angle)
    across = -du * math.sin(angle) + dv * math.cos(angle)
    return window, (along / radius) ** 2 + (across / (radius * squash)) ** 2 < 1


def _roads(
    rng: np.random.Generator, scene: Scene, size: int, count: int, main_angle: float
) -> None:
    axis = _axes(size)
    for _ in range(count):
        angle = main_angle + (math.pi / 2) * int(rng.integers(0, 2)) + rng.normal(0, 0.05)
        cu, cv = rng.uniform(0.15, 0.85, size=2)
        width = rng.uniform(0.05, 0.09)
        offset = (axis[None, :] - cu) * -math.sin(angle) + (axis[:, None] - cv) * math.cos(angle)
        road = np.abs(offset) < width / 2
        scene.labels[road] = 3
        scene.regions[road] = scene.new_region(angle)


def _buildings(
    rng: np.random.Generator, scene: Scene, size: int, count: int, main_angle: float, pools: bool
) -> None:
    for _ in range(count):
        cu, cv = rng.uniform(0.05, 0.95, size=2)
        half_long, half_short = rng.uniform(0.04, 0.11), rng.uniform(0.03, 0.075)
        angle = main_angle + (math.pi / 2) * int(rng.integers(0, 2)) + rng.normal(0, 0.04)
        yard_margin = rng.uniform(0.025, 0.06)
        window, yard, _ = _rectangle(
            size, cu, cv, half_long + yard_margin, half_short + yard_margin, angle
        )
        free = yard & (scene.labels[window] != 3) & (scene.labels[window] != 1)
        yard_class = 2 if rng.random() < 0.5 else 10
        scene.labels[window][free] = yard_class
        scene.regions[window][free] = scene.new_region(angle)
        window, inside, across = _rectangle(size, cu, cv, half_long, half_short, angle)
        inside &= scene.labels[window] != 3
        region = scene.new_region(angle)
        scene.labels[window][inside] = 1
        scene.regions[window][inside] = region
        # Gable roof: the two halves face the sun differently; the ridge is the highest line.
        scene.roof[window][inside] = np.where(across[inside] > 0, 1.0, -1.0)
        storeys = rng.uniform(70, 180)
        scene.height[window][inside] = storeys * (1 - 0.25 * np.abs(across[inside]))
        if pools and rng.random() < 0.25:
            _pool(
                rng, scene, size, cu, cv, half_long + yard_margin, half_short + yard_margin, angle
            )


def _pool(
    rng: np.random.Generator,
    scene: Scene,
    size: int,
    cu: float,
    cv: float,
    half_long: float,
    half_short: float,
    angle: float,
) -> None:
    """A small pool in the yard, beside the house."""
    side = 1 if rng.random() < 0.5 else -1
    pu = cu - side * math.sin(angle) * half_short * 0.8
    pv = cv + side * math.cos(angle) * half_short * 0.8
    window, inside, _ = _rectangle(
        size, pu, pv, rng.uniform(0.02, 0.035), rng.uniform(0.01, 0.018), angle
    )
    inside &= np.isin(scene.labels[window], (2, 10))
    scene.labels[window][inside] = 13
    scene.regions[window][inside] = scene.new_region(angle)


def _rare(rng: np.random.Generator, scene: Scene, size: int, value: int) -> None:
    """A small patch of a rare class (13..19), away from buildings and roads."""
    cu, cv = rng.uniform(0.1, 0.9, size=2)
    angle = float(rng.uniform(0, math.pi))
    if value in (13, 18):
        half_long = rng.uniform(0.02, 0.04) if value == 13 else rng.uniform(0.06, 0.1)
        window, inside, _ = _rectangle(size, cu, cv, half_long, half_long * 0.5, angle)
    else:
        window, inside = _ellipse(
            size, cu, cv, rng.uniform(0.025, 0.05), rng.uniform(0.5, 1.0), angle
        )
    inside &= (scene.labels[window] != 1) & (scene.labels[window] != 3)
    scene.labels[window][inside] = value
    scene.regions[window][inside] = scene.new_region(angle)


def draw_labels(
    rng: np.random.Generator, size: int, letters: str, forced: int, forced_rare: int
) -> Scene:
    """Draw a patch's label map (raw values 1..19, never 0).

    Args:
        rng: the patch's random generator.
        size: patch side in pixels.
        letters: the zone's landscape letters (``"UA"``), which set the class mix.
        forced: a scored class (1..12) the patch must contain (the generator cycles through them
            so that every class occurs in every split of 12 patches or more).
        forced_rare: a rare class (13..19) drawn as one small feature.
    """
    prior = class_prior(letters)
    urban = urbanity(letters)
    scene = _background(rng, size, prior, forced)
    main_angle = float(rng.uniform(0, math.pi))
    roads = int(rng.binomial(3, 0.1 + 0.45 * urban))
    if forced == 3:
        roads = max(roads, 1)
    _roads(rng, scene, size, roads, main_angle)
    buildings = int(rng.poisson(0.3 + 8 * urban))
    if forced == 1:
        buildings = max(buildings, 2)
    _buildings(rng, scene, size, buildings, main_angle, pools=urban > 0)
    _rare(rng, scene, size, forced_rare)
    for value in RARE_CLASSES:
        if value != forced_rare and rng.random() < 0.04:
            _rare(rng, scene, size, value)
    return scene


def _stripes(scene: Scene, where: np.ndarray, size: int, period: float) -> np.ndarray:
    """sin of the across-row position for the pixels ``where``, rows oriented per region."""
    rows, cols = np.nonzero(where)
    angles = np.asarray(scene.angle, dtype=np.float32)[scene.regions[rows, cols]]
    position = ((cols + 0.5) * np.cos(angles) + (rows + 0.5) * np.sin(angles)) / size
    stripes: np.ndarray = np.sin(2 * np.pi * position / period).astype(np.float32)
    return stripes


def render_image(
    rng: np.random.Generator, scene: Scene, gain: np.ndarray, offset: np.ndarray
) -> np.ndarray:
    """Render the 5-band uint8 image (R, G, B, NIR, height) of a label map.

    Args:
        rng: the patch's random generator.
        scene: the label map and its regions.
        gain: per-band multiplicative radiometric shift (domain and acquisition).
        offset: per-band additive shift.

    Returns:
        (5, s, s) uint8.
    """
    labels = scene.labels
    size = labels.shape[0]
    image = np.empty((5, size, size), dtype=np.float32)
    for band in range(5):
        image[band] = MEANS[:, band][labels]
    # Every field, house and road differs a little from the others of its class.
    region_offsets = rng.normal(0, 1, size=(len(scene.angle), 5)).astype(np.float32)
    region_offsets[:, 4] *= 0.5
    image += region_offsets[scene.regions].transpose(2, 0, 1) * JITTER[labels]
    image += rng.standard_normal((5, size, size), dtype=np.float32) * GRAIN[labels]
    present = set(np.unique(labels).tolist())

    building = labels == 1
    if building.any():
        roofs = ROOF_PALETTE[rng.integers(0, len(ROOF_PALETTE), size=len(scene.angle))]
        colour = roofs[scene.regions[building]].T
        image[:3, building] += colour - MEANS[1, :3, None]
        image[:3, building] += 12 * scene.roof[building]
        image[4, building] = scene.height[building] + rng.normal(0, 2, size=int(building.sum()))
    trees = np.isin(labels, (6, 7, 16))
    if trees.any():
        # Crowns 3-6 m wide: brighter and higher at their centres, shadowed between them.
        crowns = smooth_noise(rng, size, size, max(size * 0.035, 1.0))[trees]
        image[:3, trees] *= 1 + 0.12 * crowns
        image[3, trees] += 16 * crowns
        image[4, trees] += 22 * crowns
    shrubs = np.isin(labels, (8, 17, 15))
    if shrubs.any():
        patchy = smooth_noise(rng, size, size, max(size * 0.06, 1.0))[shrubs]
        image[3, shrubs] += 14 * patchy
        image[4, shrubs] += 10 * patchy
    if 9 in present:
        vines = labels == 9
        rows = _stripes(scene, vines, size, rng.uniform(0.02, 0.026))
        image[:3, vines] -= 8 * rows
        image[3, vines] += 14 * rows
        image[4, vines] += 8 * rows
    if 12 in present:
        furrows = labels == 12
        image[:4, furrows] += 8 * _stripes(scene, furrows, size, rng.uniform(0.008, 0.014))
    broad_classes = np.isin(labels, (2, 3, 4, 5, 10, 11))
    if broad_classes.any():
        broad = smooth_noise(rng, size, size, size / 4)[broad_classes]
        image[:4, broad_classes] += 5 * broad
    image[4] = np.maximum(image[4], 0)
    image[:4] = image[:4] * gain[:4, None, None] + offset[:4, None, None]
    image[4] = image[4] * gain[4] + offset[4]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def domain_shift(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A domain's radiometric shift: per-band gain 0.92..1.08 and offset -8..8 (height: +-3 %).

    Moderate on purpose: enough to make domains differ (FLAIR's domain-adaptation difficulty in
    miniature), not enough to push one class onto another.
    """
    gain = rng.uniform(0.92, 1.08, size=5).astype(np.float32)
    offset = rng.uniform(-8, 8, size=5).astype(np.float32)
    gain[4] = rng.uniform(0.97, 1.03)
    offset[4] = 0
    return gain, offset


def acquisition_shift(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A patch's own small shift on top of its domain's (flight line, time of day)."""
    gain = rng.uniform(0.98, 1.02, size=5).astype(np.float32)
    offset = rng.uniform(-3, 3, size=5).astype(np.float32)
    gain[4], offset[4] = 1.0, 0.0
    return gain, offset
