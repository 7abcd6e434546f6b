"""The 45-value metadata encoding: IGN's test vector, the corrected month term, clear errors."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from baseline.metadata import (
    METADATA_SIZE,
    MONTH_SLICE,
    encode_metadata,
    month_angle,
    read_metadata,
    year_one_hot,
)
from scoring.errors import DataError, MissingFileError

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "ign" / "flair1_TOY_metadata.json"

IMG_000717 = {
    "domain": "D004_2021",
    "zone": "Z8_NF",
    "patch_centroid_x": 924009.6,
    "patch_centroid_y": 6339451.2,
    "patch_centroid_z": 1661.9399414062,
    "date": "2021-05-28",
    "time": "08h06",
    "camera": "UCE-M3-f120-s07",
}
#: formats.md section 4.3: IGN's encoding of IMG_000717, rounded to 6 digits.
OFFICIAL_VECTOR = [
    0.00924,
    0.999957,
    0.000924,
    1.0,
    9.2e-05,
    1.0,
    9e-06,
    1.0,
    1e-06,
    1.0,
    0,
    1,
    0,
    1,
    0,
    1,
    0.063352,
    0.997991,
    0.006339,
    0.99998,
    0.000634,
    1.0,
    6.3e-05,
    1.0,
    6e-06,
    1.0,
    1e-06,
    1.0,
    0,
    1,
    0,
    1,
    0.525114,
    1,
    0,
    0,
    0,
    0,
    1,
    0.25,
    0.933013,
    0.214366,
    0.910382,
    0.92632,
    0.238751,
]


def entry(**changes: object) -> dict:
    return {**IMG_000717, **changes}


def test_official_variant_reproduces_igns_test_vector() -> None:
    encoded = encode_metadata(IMG_000717, "official")
    assert encoded.shape == (METADATA_SIZE,)
    assert encoded.dtype == np.float32
    assert np.round(encoded.astype(np.float64), 6).tolist() == OFFICIAL_VECTOR


def test_official_variant_on_igns_real_metadata_file() -> None:
    real = json.loads(REFERENCE.read_text(encoding="utf-8"))["IMG_000717"]
    assert (
        np.round(encode_metadata(real, "official").astype(np.float64), 6).tolist()
        == OFFICIAL_VECTOR
    )


def test_official_month_term_is_the_same_for_every_month() -> None:
    months = {
        tuple(np.round(encode_metadata(entry(date=f"2021-{m:02d}-28"), "official")[MONTH_SLICE], 6))
        for m in range(1, 13)
    }
    assert months == {(np.float32(0.25), np.float32(0.933013))}


@pytest.mark.parametrize(
    ("month", "expected"),
    [(1, (0.5, 1.0)), (4, (1.0, 0.5)), (7, (0.5, 0.0)), (10, (0.0, 0.5))],
)
def test_corrected_month_term_turns_once_a_year(month: int, expected: tuple) -> None:
    encoded = encode_metadata(entry(date=f"2020-{month:02d}-28"), "corrected")
    assert encoded[MONTH_SLICE].tolist() == pytest.approx(expected, abs=1e-6)


def test_corrected_months_are_all_distinct() -> None:
    pairs = {
        tuple(np.round(encode_metadata(entry(date=f"2020-{m:02d}-01"))[MONTH_SLICE], 5))
        for m in range(1, 13)
    }
    assert len(pairs) == 12


def test_variants_differ_only_in_the_month_term() -> None:
    official = encode_metadata(IMG_000717, "official")
    corrected = encode_metadata(IMG_000717)  # the default
    mask = np.ones(METADATA_SIZE, dtype=bool)
    mask[MONTH_SLICE] = False
    assert np.array_equal(official[mask], corrected[mask])
    assert not np.allclose(official[MONTH_SLICE], corrected[MONTH_SLICE])


def test_month_angle_of_the_official_expression_is_constant_modulo_a_turn() -> None:
    angles = [month_angle(m, "official") % (2 * math.pi) for m in range(1, 13)]
    assert max(angles) - min(angles) < 1e-9


def test_camera_and_year_one_hots() -> None:
    other_camera = encode_metadata(entry(camera="CAMERA#017", date="2018-06-01"))
    assert other_camera[33:35].tolist() == [0.0, 1.0]
    assert other_camera[35:39].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert year_one_hot(2019) == [0.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("year", [2017, 2022])
def test_year_outside_the_one_hot_is_a_clear_error(year: int) -> None:
    with pytest.raises(
        DataError, match=rf"IMG_000717: acquisition year {year} is outside 2018..2021"
    ):
        encode_metadata(entry(date=f"{year}-05-28"), name="IMG_000717")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"date": "28/05/2021"}, r"IMG_9: metadata date is '28/05/2021'; expected 'YYYY-MM-DD'"),
        ({"date": "2021-13-01"}, r"IMG_9: metadata date '2021-13-01' is not a calendar date"),
        ({"time": "8:06"}, r"IMG_9: metadata time is '8:06'; expected 'HHhMM'"),
        (
            {"patch_centroid_x": "924009.6"},
            r"IMG_9: metadata patch_centroid_x is '924009.6'; expected a number",
        ),
    ],
)
def test_malformed_fields_are_named(changes: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        encode_metadata(entry(**changes), name="IMG_9")


def test_missing_field_is_named() -> None:
    broken = entry()
    del broken["camera"]
    with pytest.raises(DataError, match=r"IMG_9: metadata entry has no 'camera' field"):
        encode_metadata(broken, name="IMG_9")


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown metadata variant 'fixed'"):
        encode_metadata(IMG_000717, "fixed")  # type: ignore[arg-type]


def test_read_metadata(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({"IMG_000717": IMG_000717}), encoding="utf-8")
    assert read_metadata(path)["IMG_000717"]["zone"] == "Z8_NF"
    with pytest.raises(MissingFileError, match=r"metadata JSON not found"):
        read_metadata(tmp_path / "absent.json")
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match=r"not a valid JSON file"):
        read_metadata(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"expected a JSON object mapping IMG_<id> to metadata objects"
    ):
        read_metadata(path)


def test_a_metadata_json_that_is_no_file_says_what_it_is(tmp_path: Path) -> None:
    """train's metadata JSON and map --metadata: a folder or FIFO is named, never opened."""
    from baseline.mapping import map_metadata

    (tmp_path / "dir.json").mkdir()
    os.mkfifo(tmp_path / "pipe.json")  # opened, it would block forever without a writer
    for name, what in [("dir.json", "is a folder"), ("pipe.json", r"is a FIFO \(named pipe\)")]:
        # One message for both (scoring.masks.require_regular): what it is, and the fix.
        message = rf"{name}: {what}, not a regular file; expected a metadata JSON file \(refused"
        with pytest.raises(DataError, match=message):
            read_metadata(tmp_path / name)
        with pytest.raises(DataError, match=message):
            map_metadata(tmp_path / name, "corrected")
