"""Hostile inputs, zip structure and TIFF structure, through the real entry points (issue 11).

Every case is generated here: zips with :mod:`zipfile` or byte by byte, TIFFs with Pillow or a
hand-written header. Each runs through ``flair-kit validate`` and ``flair-kit score`` (typer's
runner, in process) and asserts the exit code, the one-line message (what, where, expected, fix;
never a traceback) and that nothing was written beside the inputs or left in the temporary folder.
``validate`` and ``score`` must agree: what one refuses the other refuses, except problems of form
only, which ``score`` scores as the official scorer would, with a warning naming the problem. A few
cases run the scoring program (``python -m scoring INPUT OUTPUT``) and ``bundle`` as subprocesses.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from starting_kit.cli import app
from tests.starting_kit.corpus import (
    CORPUS_IDS,
    CORPUS_SIZE,
    corpus_classes,
    corrupt_zip,
    encrypted_zip,
    official_like,
    pillow_bytes,
    symlink_zip,
    write_folder,
    write_reference,
    write_zip,
)
from tests.starting_kit.corpus import raw_zip as corpus_raw_zip

REPO = Path(__file__).resolve().parents[2]
FIRST = f"PRED_{CORPUS_IDS[0]:06d}.tif"


# --- builders ------------------------------------------------------------------------------------


def good_files() -> dict[str, bytes]:
    """A complete valid submission of the corpus ids (32x32, official format)."""
    return {f"PRED_{t:06d}.tif": official_like(corpus_classes(t)) for t in CORPUS_IDS}


def with_first(data: bytes, name: str = FIRST) -> dict[str, bytes]:
    """The good submission whose first file is replaced by ``name`` -> ``data``."""
    files = {k: v for k, v in good_files().items() if k != FIRST}
    files[name] = data
    return files


def header_tiff(
    width: int,
    height: int,
    *,
    bits: int = 8,
    sample_format: int = 1,
    samples: int = 1,
    payload: bytes = b"\0" * 64,
    big: bool = False,
    compression: int = 1,
) -> bytes:
    """A little-endian TIFF whose header declares anything, followed by a tiny strip.

    Nothing checks that the strip holds ``width * height`` pixels: a decoder that trusts the header
    allocates the declared image before it finds the data short.
    """
    tags = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, bits),
        (259, 3, compression),
        (262, 3, 1),
        (273, 4, 0),  # strip offset, patched below
        (277, 3, samples),
        (278, 4, height),
        (279, 4, len(payload)),
        (339, 3, sample_format),
    ]
    if big:
        start = 16
        ifd = struct.pack("<Q", len(tags))
        end = start + 8 + len(tags) * 20 + 8
        for tag, kind, value in tags:
            value = end if tag == 273 else value
            ifd += struct.pack("<HHQQ", tag, 16 if kind == 4 else kind, 1, value)
        return b"II+\x00" + struct.pack("<HHQ", 8, 0, start) + ifd + struct.pack("<Q", 0) + payload
    start = 8
    ifd = struct.pack("<H", len(tags))
    end = start + 2 + len(tags) * 12 + 4
    for tag, kind, value in tags:
        value = end if tag == 273 else value
        ifd += struct.pack("<HHII", tag, kind, 1, value)
    return b"II*\x00" + struct.pack("<I", start) + ifd + struct.pack("<I", 0) + payload


def png_bomb(side: int = 30000) -> bytes:
    """A PNG of a few kilobytes declaring side x side grey pixels (zeros, deflated)."""
    raw = zlib.compressobj(9)
    row = b"\0" * (side + 1)
    data = b"".join(raw.compress(row) for _ in range(64)) + raw.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def raw_zip(path: Path, entries: list[tuple[bytes, bytes, int]]) -> Path:
    """A stored zip written byte by byte: (raw name bytes, data, general-purpose flags)."""
    return corpus_raw_zip(
        path, [(name, data, zlib.crc32(data), len(data), flags) for name, data, flags in entries]
    )


def deflate_corrupt_zip(path: Path) -> Path:
    """A deflated zip whose first entry's compressed stream is garbage (CRC fields intact)."""
    write_zip(path, good_files())
    data = bytearray(path.read_bytes())
    (name_length, extra_length) = struct.unpack_from("<HH", data, 26)
    start = 30 + name_length + extra_length
    data[start : start + 16] = b"\xff" * 16  # an invalid deflate block type
    path.write_bytes(bytes(data))
    return path


def understated_zip(path: Path) -> Path:
    """A stored zip whose first entry's headers understate its size (a lying zip bomb)."""
    files = good_files()
    raw_zip(path, [(name.encode(), data, 0) for name, data in files.items()])
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 22, 100)  # local header: uncompressed size
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)
    path.write_bytes(bytes(data))
    return path


def ratio_bomb_zip(path: Path) -> Path:
    """A zip whose first entry expands 1000:1 (64 MB of zeros)."""
    files = good_files()
    files[FIRST] = b"\0" * (64 * 1024 * 1024)
    return write_zip(path, files)


def shadowed_zip(path: Path, folder_first: bool) -> Path:
    """A zip in which the first PRED name is both a file and a folder."""
    files = good_files()
    entries = [(f"{FIRST}/", b"")] if folder_first else []
    entries += list(files.items())
    if not folder_first:
        entries.append((f"{FIRST}/inner.tif", files[FIRST]))
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def jpeg_bytes() -> bytes:
    classes = corpus_classes(CORPUS_IDS[0])
    return pillow_bytes(classes, fmt="JPEG")


def bigtiff_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(corpus_classes(CORPUS_IDS[0])).save(buffer, format="TIFF", big_tiff=True)
    return buffer.getvalue()


def truncated_tiff() -> bytes:
    """The first prediction, uncompressed, cut in the middle of its strip."""
    data = pillow_bytes(corpus_classes(CORPUS_IDS[0]), compression=None)
    return data[: len(data) - 600]


def many_bombs_zip(path: Path) -> Path:
    """50 hand-written 8192x8192 float32 TIFFs in one small zip (35 s and 2.65 GB before)."""
    bomb = header_tiff(8192, 8192, bits=32, sample_format=3)
    files = {f"PRED_{61713 + i:06d}.tif": bomb for i in range(50)}
    return write_zip(path, files)


# --- the cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile submission and what ``validate`` and ``score`` must say about it.

    ``score_code`` 0 means a problem of form only: scored, with ``score_message`` as a warning.
    """

    name: str
    build: Callable[[Path], Path]
    validate_message: str
    score_code: int
    score_message: str
    validate_code: int = 1


def _zip(files: Callable[[], dict[str, bytes]]) -> Callable[[Path], Path]:
    return lambda tmp: write_zip(tmp / "submission.zip", files())


def _folder(files: Callable[[], dict[str, bytes]]) -> Callable[[Path], Path]:
    return lambda tmp: write_folder(tmp / "submission", files())


LONG_COMPONENT = "x" * 300
LONG_PATH = "/".join(["d" * 200] * 21)

CASES = [
    # zip structure
    Case("duplicate_member", lambda t: _dup(t), "entries of this name", 1, "entries of this name"),
    Case(
        "trailing_newline",
        _zip(lambda: with_first(good_files()[FIRST], FIRST + "\n")),
        "control character",
        1,
        "control character",
    ),
    Case(
        "tab_in_name",
        _zip(lambda: with_first(good_files()[FIRST], "PRED_\t061713.tif")),
        "control character",
        1,
        "control character",
    ),
    Case(
        "folder_shadows_file",
        lambda t: shadowed_zip(t / "s.zip", True),
        "both a file and a folder",
        1,
        "both a file and a folder",
    ),
    Case(
        "file_shadows_folder",
        lambda t: shadowed_zip(t / "s.zip", False),
        "both a file and a folder",
        1,
        "both a file and a folder",
    ),
    Case(
        "component_too_long",
        _zip(lambda: with_first(good_files()[FIRST], f"{LONG_COMPONENT}/{FIRST}")),
        "too long to extract",
        1,
        "too long to extract",
    ),
    Case(
        "path_too_long",
        _zip(lambda: with_first(good_files()[FIRST], f"{LONG_PATH}/{FIRST}")),
        "too long to extract",
        1,
        "too long to extract",
    ),
    Case(
        "macosx_pred_copy",
        _zip(lambda: {**good_files(), f"__MACOSX/{FIRST}": good_files()[FIRST]}),
        "occurs in 2 files",
        1,
        "duplicate prediction ids: 061713",
    ),
    Case(
        "corrupt_deflate",
        lambda t: deflate_corrupt_zip(t / "s.zip"),
        "cannot be read from the zip",
        1,
        "cannot be read from the zip",
    ),
    Case(
        "corrupt_stored_crc",
        lambda t: corrupt_zip(t / "s.zip", good_files(), FIRST),
        "cannot be read from the zip",
        1,
        "cannot be read from the zip",
    ),
    Case(
        "invalid_utf8_name",
        lambda t: raw_zip(t / "s.zip", [(b"PRED_\xff\xfe.tif", b"x", 0x800)]),
        "not valid UTF-8",
        1,
        "not valid UTF-8",
    ),
    Case(
        "empty_entry_name",
        lambda t: raw_zip(
            t / "s.zip", [(b"", b"x", 0)] + [(n.encode(), d, 0) for n, d in good_files().items()]
        ),
        "empty entry name",
        1,
        "empty entry name",
    ),
    Case(
        "absolute_path",
        _zip(lambda: with_first(good_files()[FIRST], f"/tmp/{FIRST}")),
        "absolute path",
        1,
        "absolute path",
    ),
    Case(
        "dot_dot_path",
        _zip(lambda: with_first(good_files()[FIRST], f"../{FIRST}")),
        "escapes the archive",
        1,
        "escapes the archive",
    ),
    Case(
        "not_a_zip",
        lambda t: _write(t / "s.zip", b"PK\x03\x04 this is not a zip at all" * 20),
        "not a readable zip",
        1,
        "not a readable zip",
    ),
    Case(
        "truncated_zip",
        lambda t: _write(t / "s.zip", write_zip(t / "full.zip", good_files()).read_bytes()[:900]),
        "not a readable zip",
        1,
        "not a readable zip",
    ),
    Case("ratio_bomb", lambda t: ratio_bomb_zip(t / "s.zip"), "zip bomb", 1, "zip bomb"),
    Case(
        "understated_size",
        lambda t: understated_zip(t / "s.zip"),
        "cannot be read from the zip",
        1,
        "cannot be read from the zip",
    ),
    Case(
        "nested_zip",
        _zip(lambda: {**good_files(), "inner.zip": b"PK\x05\x06" + b"\0" * 18}),
        "nested zip",
        1,
        "nested zip",
    ),
    Case(
        "metadata_entry",
        _zip(lambda: {**good_files(), "metadata": b"command: x\n"}),
        "code submission",
        1,
        "code submission",
    ),
    Case(
        "symlink_entry",
        lambda t: symlink_zip(t / "s.zip", good_files(), FIRST),
        "symbolic link",
        1,
        "symbolic link",
    ),
    Case(
        "encrypted_entry",
        lambda t: encrypted_zip(t / "s.zip", good_files()),
        "encrypted",
        1,
        "encrypted",
    ),
    Case(
        "pred_copy_suffix",
        _zip(lambda: {**good_files(), "PRED_061713 (1).tif": good_files()[FIRST]}),
        "not a prediction",
        1,
        "PRED_061713 (1).tif",
    ),
    # TIFF structure
    Case(
        "float32_8192_header",
        _zip(lambda: with_first(header_tiff(8192, 8192, bits=32, sample_format=3))),
        "refused before decoding",
        1,
        "prediction is 8192x8192 but reference MSK_061713.tif is 32x32",
    ),
    Case(
        "int64_8192_header",
        _zip(lambda: with_first(header_tiff(8192, 8192, bits=64, sample_format=2))),
        "cannot be decoded by Pillow",
        1,
        "cannot be decoded by Pillow",
    ),
    Case(
        "complex128_8192_header",
        _zip(lambda: with_first(header_tiff(8192, 8192, bits=128, sample_format=6))),
        "cannot be decoded by Pillow",
        1,
        "cannot be decoded by Pillow",
    ),
    Case(
        "uint8_8192_header",
        _zip(lambda: with_first(header_tiff(8192, 8192))),
        "refused before decoding",
        1,
        "prediction is 8192x8192",
    ),
    Case(
        "fifty_bombs",
        lambda t: many_bombs_zip(t / "s.zip"),
        "refused before decoding",
        1,
        "46 predictions have no reference mask",
    ),
    Case(
        "png_bomb",
        _zip(lambda: with_first(png_bomb())),
        "decompression bomb",
        1,
        "decompression bomb",
    ),
    Case(
        "bigtiff_bomb",
        _zip(lambda: with_first(header_tiff(8192, 8192, big=True))),
        "refused before decoding",
        1,
        "prediction is 8192x8192",
    ),
    Case(
        "truncated_strip",
        _zip(lambda: with_first(truncated_tiff())),
        "cannot be decoded by Pillow",
        1,
        "cannot be decoded by Pillow",
    ),
    Case(
        "empty_file", _zip(lambda: with_first(b"")), "empty file", 1, "cannot be decoded by Pillow"
    ),
    Case(
        "wrong_size",
        _zip(lambda: with_first(official_like(corpus_classes(CORPUS_IDS[0], 16)))),
        "16x16 pixels; expected 32x32",
        1,
        "prediction is 16x16 but reference MSK_061713.tif is 32x32",
    ),
    Case(
        "two_bands",
        _zip(
            lambda: with_first(
                pillow_bytes(
                    np.dstack(
                        [
                            corpus_classes(CORPUS_IDS[0]),
                            corpus_classes(CORPUS_IDS[1]),
                            corpus_classes(CORPUS_IDS[2]),
                        ]
                    )
                )
            )
        ),
        "bands of different values",
        1,
        "several bands",
    ),
    # problems of form only: validate refuses, score scores with a warning naming the problem
    Case(
        "jpeg_named_tif",
        _zip(lambda: with_first(jpeg_bytes())),
        "holds JPEG data",
        0,
        "JPEG data named .tif",
    ),
    Case(
        "png_named_tif",
        _zip(lambda: with_first(pillow_bytes(corpus_classes(CORPUS_IDS[0]), fmt="PNG"))),
        "holds PNG data",
        0,
        "PNG data named .tif",
    ),
    Case("bigtiff", _zip(lambda: with_first(bigtiff_bytes())), "holds BigTIFF data", 0, "BigTIFF"),
    Case(
        "uint16_tiff",
        _zip(lambda: with_first(pillow_bytes(corpus_classes(CORPUS_IDS[0]).astype(np.uint16)))),
        "dtype uint16",
        0,
        "Pillow mode I;16",
    ),
    Case(
        "one_based",
        _zip(
            lambda: {
                n: official_like(corpus_classes(t) % 12 + 1)
                for n, t in zip(good_files(), CORPUS_IDS, strict=True)
            }
        ),
        "look 1-based",
        0,
        "look 1-based",
        validate_code=0,
    ),
]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _dup(tmp: Path) -> Path:
    files = good_files()
    path = tmp / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
            archive.writestr(FIRST, official_like(corpus_classes(CORPUS_IDS[1])))
    return path


# --- harness -------------------------------------------------------------------------------------


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (relative), to prove nothing was written."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def scratch_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private temporary folder for the kit's own scratch files; must be empty afterwards."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    yield scratch
    assert list(scratch.iterdir()) == [], "the kit left temporary files behind"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reference(tmp_path_factory.mktemp("hostile-ref") / "ref")


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail instead of hanging forever (a FIFO opened for reading blocks)."""

    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError("the command blocked")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def run_cli(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_validate(submission: Path, code: int, message: str, *, strict: bool = False) -> str:
    args = ["validate", str(submission), "--size", str(CORPUS_SIZE), "--workers", "1"]
    exit_code, out, err = run_cli(args + (["--strict"] if strict else []))
    assert "Traceback" not in out + err
    assert exit_code == code, out + err
    severity = "error" if code else "warning"
    lines = [line for line in out.splitlines() if message in line]
    assert lines and all(line.startswith(f"{severity}: ") for line in lines), out
    return out


def assert_score(
    submission: Path, reference: Path, code: int, message: str, json_out: Path
) -> None:
    args = ["score", str(submission), str(reference), "--workers", "1", "--json", str(json_out)]
    exit_code, out, err = run_cli(args)
    assert "Traceback" not in out + err
    assert exit_code == code, out + err
    if code:
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
        assert not json_out.exists()
    else:
        assert any(line.startswith("warning: ") and message in line for line in err.splitlines()), (
            err
        )
        assert message in " ".join(json.loads(json_out.read_text())["warnings"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validate_and_score_agree(
    case: Case, tmp_path: Path, reference: Path, scratch_tmp: Path, no_hang: None
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    submission = case.build(inputs)
    before = snapshot(inputs)
    assert_validate(submission, case.validate_code, case.validate_message)
    assert snapshot(inputs) == before
    out = tmp_path / "out"
    out.mkdir()
    assert_score(submission, reference, case.score_code, case.score_message, out / "report.json")
    assert snapshot(inputs) == before
    assert snapshot(out) == ({"report.json"} if case.score_code == 0 else set())


def test_one_based_is_an_error_under_strict(tmp_path: Path, scratch_tmp: Path) -> None:
    files = {
        n: official_like(corpus_classes(t) % 12 + 1)
        for n, t in zip(good_files(), CORPUS_IDS, strict=True)
    }
    submission = write_zip(tmp_path / "s.zip", files)
    out = assert_validate(submission, 1, "look 1-based", strict=True)
    assert "no pixel of class 0 (building) in any file" in out


def test_one_based_is_warned_by_pack(tmp_path: Path, scratch_tmp: Path) -> None:
    folder = write_folder(
        tmp_path / "preds",
        {
            n: official_like(corpus_classes(t) % 12 + 1)
            for n, t in zip(good_files(), CORPUS_IDS, strict=True)
        },
    )
    code, _out, err = run_cli(
        ["pack", str(folder), "--output", str(tmp_path / "s.zip"), "--size", "32", "--workers", "1"]
    )
    assert code == 0 and "warning: no pixel of class 0" in err
    code, _out, err = run_cli(
        [
            "pack",
            str(folder),
            "--output",
            str(tmp_path / "t.zip"),
            "--size",
            "32",
            "--workers",
            "1",
            "--strict",
        ]
    )
    assert code == 1 and not (tmp_path / "t.zip").exists()


# --- special files in a folder submission ---------------------------------------------------------


def _fifo(folder: Path, short: Path) -> None:
    os.mkfifo(folder / FIRST)


def _dev_zero(folder: Path, short: Path) -> None:
    (folder / FIRST).symlink_to("/dev/zero")


def _socket(folder: Path, short: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        # The bound name stays a socket in the file system after the server closes.
        server.bind(str(short / "s"))
    (folder / FIRST).symlink_to(short / "s")


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path (a socket's path is limited to 107 bytes), removed afterwards."""
    short = Path(tempfile.mkdtemp(prefix="fk-", dir="/tmp"))
    yield short
    shutil.rmtree(short, ignore_errors=True)


@pytest.mark.parametrize(
    ("make", "kind"),
    [(_fifo, "FIFO"), (_dev_zero, "character device"), (_socket, "socket")],
    ids=["fifo", "symlink-to-dev-zero", "socket"],
)
def test_special_files_are_refused_unread(
    make: Callable[[Path, Path], None],
    kind: str,
    tmp_path: Path,
    short_tmp: Path,
    reference: Path,
    scratch_tmp: Path,
    no_hang: None,
) -> None:
    folder = write_folder(tmp_path / "preds", {k: v for k, v in good_files().items() if k != FIRST})
    make(folder, short_tmp)
    assert_validate(folder, 1, f"is a {kind}")
    out = tmp_path / "out"
    out.mkdir()
    assert_score(folder, reference, 1, f"is a {kind}", out / "r.json")


def test_special_file_as_reference_mask_is_the_reference_fault(
    tmp_path: Path, scratch_tmp: Path, no_hang: None
) -> None:
    ref = write_reference(tmp_path / "ref")
    (ref / f"MSK_{CORPUS_IDS[0]:06d}.tif").unlink()
    os.mkfifo(ref / f"MSK_{CORPUS_IDS[0]:06d}.tif")
    preds = write_folder(tmp_path / "preds", good_files())
    code, _out, err = run_cli(["score", str(preds), str(ref), "--workers", "1"])
    assert code == 1 and err.count("\n") == 1 and "MSK_061713.tif: is a FIFO" in err


@pytest.mark.parametrize("command", ["validate", "pack"])
def test_special_file_in_the_expect_folder_is_refused_unread(
    command: str, tmp_path: Path, scratch_tmp: Path, no_hang: None
) -> None:
    # The patch size comes from the --expect folder's first image: GDAL would block on a FIFO.
    expect = tmp_path / "test"
    expect.mkdir()
    os.mkfifo(expect / "IMG_000001.tif")
    preds = write_folder(tmp_path / "preds", good_files())
    out = ["-o", str(tmp_path / "s.zip")] if command == "pack" else []
    code, stdout, err = run_cli([command, str(preds), "--expect", str(expect), *out])
    assert code == 1 and "Traceback" not in stdout + err, stdout + err
    assert err.count("\n") == 1 and "IMG_000001.tif: is a FIFO" in err, err
    assert not (tmp_path / "s.zip").exists()


def test_an_empty_expect_is_refused_not_taken_as_the_current_folder(
    tmp_path: Path, scratch_tmp: Path
) -> None:
    preds = write_folder(tmp_path / "preds", good_files())
    code, stdout, err = run_cli(["validate", str(preds), "--expect", ""])
    assert code == 1 and "Traceback" not in stdout + err, stdout + err
    assert err.startswith("error: --expect is empty;") and err.count("\n") == 1, err


# --- score's own traps ----------------------------------------------------------------------------


def test_swapped_arguments_are_named(tmp_path: Path, reference: Path, scratch_tmp: Path) -> None:
    preds = write_folder(tmp_path / "preds", good_files())
    code, _out, err = run_cli(["score", str(reference), str(preds), "--workers", "1"])
    assert code == 1 and err.count("\n") == 1 and "the arguments look swapped" in err


def test_masks_in_a_msk_folder_given_as_predictions(tmp_path: Path, scratch_tmp: Path) -> None:
    truth = write_reference(tmp_path / "labels" / "D012_2019" / "Z1_UU" / "msk")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _out, err = run_cli(["score", str(tmp_path / "labels"), str(empty), "--workers", "1"])
    assert code == 1 and "the arguments look swapped" in err and str(truth) not in err


# --- the scoring program: whose fault, and no CLI option on the platform ---------------------------


def run_program(tmp: Path, ref: Path, res: Path) -> subprocess.CompletedProcess[str]:
    run = tmp / "run"
    (run / "input").mkdir(parents=True)
    (run / "input" / "ref").symlink_to(ref)
    (run / "input" / "res").symlink_to(res)
    (run / "output").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp / "scratch")}
    return subprocess.run(
        [sys.executable, "-m", "scoring", str(run / "input"), str(run / "output")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_program_blames_a_reference_mask_of_the_wrong_size_on_the_organiser(tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    ref = write_reference(tmp_path / "ref", ids=CORPUS_IDS[:1], size=256)
    res = write_folder(tmp_path / "res", {FIRST: official_like(np.zeros((512, 512), np.uint8))})
    result = run_program(tmp_path, ref, res)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Scoring program error (organiser's reference data")
    assert "MSK_061713.tif: reference mask is 256x256, not a 512x512 FLAIR patch" in result.stderr
    assert list((tmp_path / "run" / "output").iterdir()) == []


def test_program_blames_an_unreadable_reference_on_the_organiser(tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    ref = write_reference(tmp_path / "ref")
    (ref / f"MSK_{CORPUS_IDS[0]:06d}.tif").write_bytes(b"II*\x00garbage")
    res = write_folder(tmp_path / "res", good_files())
    result = run_program(tmp_path, ref, res)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("Scoring program error (organiser's reference data")
    assert list((tmp_path / "run" / "output").iterdir()) == []


def test_program_never_suggests_subset(tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    ref = write_reference(tmp_path / "ref")
    res = write_folder(tmp_path / "res", {k: v for k, v in good_files().items() if k != FIRST})
    result = run_program(tmp_path, ref, res)
    assert result.returncode == 1 and result.stderr.startswith(
        "Invalid submission: missing predictions"
    )
    assert "--subset" not in result.stderr and "--" not in result.stderr.split("ids:")[1]


def test_program_reports_a_one_based_submission(tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    ref = write_reference(tmp_path / "ref")
    res = write_folder(
        tmp_path / "res",
        {
            n: official_like(corpus_classes(t) % 12 + 1)
            for n, t in zip(good_files(), CORPUS_IDS, strict=True)
        },
    )
    result = run_program(tmp_path, ref, res)
    assert result.returncode == 0, result.stderr
    assert "warning: no pixel of class 0" in result.stderr
    output = tmp_path / "run" / "output"
    assert any(
        "look 1-based" in w for w in json.loads((output / "scores.json").read_text())["warnings"]
    )
    assert "look 1-based" in (output / "detailed_results.html").read_text()
    assert list((tmp_path / "scratch").iterdir()) == []


def test_program_refuses_a_fifo_without_hanging(tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    ref = write_reference(tmp_path / "ref")
    res = write_folder(tmp_path / "res", {k: v for k, v in good_files().items() if k != FIRST})
    os.mkfifo(res / FIRST)
    result = run_program(tmp_path, ref, res)
    assert result.returncode == 1 and result.stderr.startswith("Invalid submission: ")
    assert "is a FIFO" in result.stderr and result.stderr.count("\n") == 1


# --- bundles ---------------------------------------------------------------------------------------


def test_bundle_check_refuses_a_zip_bomb_unread(tmp_path: Path) -> None:
    bundle = write_zip(
        tmp_path / "bundle.zip", {"competition.yaml": b"title: x\n", "big.bin": b"\0" * (200 << 20)}
    )
    code, _out, err = run_cli(["bundle", "--check", str(bundle)])
    assert code == 1 and "zip bomb" in err and "Traceback" not in err


def test_bundle_reference_decodes_every_mask(tmp_path: Path) -> None:
    ref = write_reference(tmp_path / "ref")
    mask = ref / f"MSK_{CORPUS_IDS[0]:06d}.tif"
    data = pillow_bytes((corpus_classes(CORPUS_IDS[0]) + 1).astype(np.uint8), compression=None)
    mask.write_bytes(data[: len(data) - 600])  # header intact, strip cut short
    output = tmp_path / "bundle.zip"
    code, _out, err = run_cli(
        ["bundle", "--dataset", "flair1", "--reference", str(ref), "--output", str(output)]
    )
    assert code == 1 and err.count("\n") == 1 and "MSK_061713.tif" in err and "decode" in err
    assert not output.exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_special_file_given_as_the_submission_is_refused_unread(
    kind: str, tmp_path: Path, reference: Path, scratch_tmp: Path, no_hang: None
) -> None:
    submission = tmp_path / "submission.zip"
    if kind == "fifo":
        os.mkfifo(submission)
    else:
        submission.symlink_to("/dev/zero")
    expected = "is a FIFO" if kind == "fifo" else "is a character device"
    assert_validate(submission, 1, expected)
    out = tmp_path / "out"
    out.mkdir()
    assert_score(submission, reference, 1, expected, out / "r.json")


def test_a_special_file_where_a_folder_or_csv_is_expected_is_named_for_what_it_is(
    tmp_path: Path, reference: Path, scratch_tmp: Path, no_hang: None
) -> None:
    preds = write_folder(tmp_path / "preds", good_files())
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _out, err = run_cli(["score", str(preds), str(fifo), "--workers", "1"])
    assert code == 1 and err == (
        f"error: {fifo}: is a FIFO (named pipe); expected a folder of MSK_<id>.tif files\n"
    )
    html = tmp_path / "r.html"
    args = ["score", str(preds), str(reference), "--html", str(html), "--zones", str(fifo)]
    code, _out, err = run_cli([*args, "--workers", "1"])
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"error: {fifo}: zones csv is a FIFO (named pipe); expected"), err
    assert not html.exists()


def test_bundle_check_names_the_zip_it_checked(tmp_path: Path, scratch_tmp: Path) -> None:
    submission = write_zip(tmp_path / "submission.zip", good_files())
    code, _out, err = run_cli(["bundle", "--check", str(submission)])
    assert code == 1 and "Traceback" not in err
    assert err.startswith(f"error: {submission}: no competition.yaml at the zip root"), err


def test_bundle_refuses_a_truncated_reference_mask_in_one_line(tmp_path: Path) -> None:
    # In a child process: Pillow's warnings reach its stderr there, as a user sees them.
    ref = write_reference(tmp_path / "ref")
    mask = ref / f"MSK_{CORPUS_IDS[0]:06d}.tif"
    # Cut inside the first IFD: Pillow warns of corrupt EXIF data before it gives up.
    mask.write_bytes(mask.read_bytes()[:20])
    out = tmp_path / "bundle.zip"
    run = subprocess.run(
        [sys.executable, "-m", "starting_kit", "bundle", "--dataset", "flair1",
         "--reference", str(ref), "-o", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1 and f"MSK_{CORPUS_IDS[0]:06d}.tif" in run.stderr, run.stderr
    assert not out.exists()
