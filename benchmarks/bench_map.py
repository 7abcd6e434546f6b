"""Figures of ``flair-kit baseline map`` and of zone context.

Three measurements (each can be skipped):

- ``throughput``: tiles/s of :func:`baseline.mapping.map_raster` with the U-Net/ResNet34 of the
  packaged ``flair1-toy-cpu`` configuration (random weights: speed does not depend on them) on a
  random raster, 512-pixel tiles, 128-pixel overlap, class-map output; plain and with D4 TTA.
- ``memory``: peak resident memory (``VmHWM`` of a fresh process) while mapping rasters built
  to be large, growing in width and in height, in vertical strips (the default
  ``strip_width``) and, for comparison, in a single full-width sweep. The network is a
  pointwise stand-in (a 1x1 convolution) so that the run measures the mapping machinery (window
  reads, blending accumulators, block writer), not hours of U-Net time; a real network adds its
  own constant activation memory per batch. Bounded memory shows as a peak that grows neither
  with the height nor with the width (the decoded raster grows from tens of MB to GB).
- ``toy``: mIoU on a toy test set (``--toy-data``, e.g. the ``data`` folder that ``flair-kit
  demo`` leaves) with a trained checkpoint (``--toy-checkpoint``): plain patch prediction, D4 TTA
  and ``--context zone``, scored with the official metric.

Usage:
    python benchmarks/bench_map.py
    python benchmarks/bench_map.py --toy-checkpoint /tmp/mapdemo/run/best.pt \
        --toy-data /tmp/mapdemo/data --skip memory
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import torch
from affine import Affine
from rasterio.windows import Window

from baseline.blending import DEFAULT_STRIP_WIDTH, estimate_accumulator_bytes
from baseline.checkpoint import model_payload, save_checkpoint
from baseline.config import load_config
from baseline.mapping import map_raster
from baseline.model import FlairSegmenter, build_model
from scoring.classes import NUM_CLASSES


def write_large_raster(path: Path, height: int, width: int, *, noise: bool) -> int:
    """Write a 5-band uint8 EPSG:2154 GeoTIFF strip by strip; return its decoded size in bytes.

    ``noise``: random pixels (incompressible), else a smooth pattern that DEFLATE shrinks, so a
    raster of gigabytes decoded fits in little disk.
    """
    profile = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": 5,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": Affine(0.2, 0.0, 650000.0, 0.0, -0.2, 6860000.0),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "IF_SAFER",
    }
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, height, 512):
            rows = min(512, height - top)
            if noise:
                strip = rng.integers(0, 256, (5, rows, width), dtype=np.uint8)
            else:
                y, x = np.mgrid[top : top + rows, 0:width]
                base = ((x // 7 + y // 5) % 256).astype(np.uint8)
                strip = np.stack([base, base[::-1], 255 - base, base // 2, base // 3])
            dst.write(strip, window=Window(0, top, width, rows))
    return 5 * height * width


def unet_checkpoint(path: Path) -> Path:
    """A checkpoint of the toy configuration's U-Net/ResNet34 with random weights."""
    cfg = load_config("flair1-toy-cpu")
    torch.manual_seed(0)
    model = build_model(cfg.model.arch, cfg.model.encoder, len(cfg.data.bands), NUM_CLASSES, "none")
    save_checkpoint(path, model_payload(model.state_dict(), cfg, epoch=0))
    return path


def build_pointwise(arch, encoder, in_channels, num_classes, encoder_weights="none", **_: Any):
    """The memory run's stand-in network (same signature as build_model)."""
    return FlairSegmenter(torch.nn.Conv2d(in_channels, num_classes, 1))


def throughput(work: Path, size: int, device: str) -> list[dict[str, Any]]:
    raster = work / "throughput.tif"
    write_large_raster(raster, size, size, noise=True)
    checkpoint = unet_checkpoint(work / "unet.pt")
    rows = []
    for tta in (False, True):
        result = map_raster(
            checkpoint,
            raster,
            work / f"map-{tta}.tif",
            tile=512,
            overlap=128,
            tta=tta,
            device=device,
            overwrite=True,
        )
        rows.append(
            {
                "raster": f"{size}x{size}",
                "tta": tta,
                "tiles": result.n_tiles,
                "seconds": round(result.seconds, 1),
                "tiles_per_s": round(result.tiles_per_s, 3),
                "megapixels_per_s": round(size * size / 1e6 / result.seconds, 3),
                "device": result.device,
                "amp": result.amp,
            }
        )
    return rows


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def memory_child(raster: str, out: str, checkpoint: str, strip_width: str) -> None:
    """Run in a fresh process: map with the pointwise stand-in, print peak RSS as JSON."""
    import baseline.inference

    baseline.inference.build_model = build_pointwise  # type: ignore[assignment]
    imports_mb = peak_rss_mb()
    start = time.perf_counter()
    result = map_raster(
        Path(checkpoint),
        Path(raster),
        Path(out),
        tile=512,
        overlap=128,
        device="cpu",
        amp="off",
        overwrite=True,
        batch_size=8,
        strip_width=int(strip_width),
    )
    print(
        json.dumps(
            {
                "rss_after_imports_mb": imports_mb,
                "peak_rss_mb": peak_rss_mb(),
                "tiles": result.n_tiles,
                "seconds": round(time.perf_counter() - start, 1),
                "out_mb": round(Path(out).stat().st_size / 2**20, 2),
            }
        )
    )


def memory(work: Path, shapes: list[tuple[int, int]]) -> list[dict[str, Any]]:
    checkpoint = work / "pointwise.pt"
    cfg = load_config("flair1-toy-cpu")
    save_checkpoint(
        checkpoint,
        model_payload(build_pointwise("", "", 5, NUM_CLASSES).state_dict(), cfg, epoch=0),
    )
    rows = []
    for height, width in shapes:
        raster = work / f"large-{height}x{width}.tif"
        decoded = write_large_raster(raster, height, width, noise=False)
        # strips of the default width, then one full-width sweep (a strip as wide as the raster)
        for strips, strip_width in (("yes", DEFAULT_STRIP_WIDTH), ("no (one sweep)", width)):
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--memory-child",
                    str(raster),
                    str(work / "m.tif"),
                    str(checkpoint),
                    str(strip_width),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            measured = json.loads(child.stdout.strip().splitlines()[-1])
            accumulators = estimate_accumulator_bytes(width, 512, strip_width=strip_width)
            rows.append(
                {
                    "raster": f"{height}x{width}x5",
                    "strips": strips,
                    "decoded_mb": round(decoded / 2**20, 1),
                    "file_mb": round(raster.stat().st_size / 2**20, 1),
                    "accumulators_mb": round(accumulators / 2**20, 1),
                    **measured,
                }
            )
        raster.unlink()
    return rows


def toy(checkpoint: Path, data: Path, work: Path, device: str) -> list[dict[str, Any]]:
    from baseline.predict import predict
    from scoring.evaluate import score_folders

    truth = data / "flair_1_labels_test"
    rows = []
    for name, options in (
        ("plain patch prediction", {}),
        ("D4 TTA", {"tta": True}),
        ("zone context", {"context": "zone"}),
        ("zone context + D4 TTA", {"context": "zone", "tta": True}),
    ):
        out = work / name.replace(" ", "-")
        result = predict(checkpoint, data, out, device=device, overwrite=True, **options)
        report = score_folders(out, truth, workers=1)
        rows.append(
            {
                "method": name,
                "miou": round(report.miou, 4),
                "tiles_per_s": round(result.tiles_per_s, 1),
            }
        )
    return rows


def quarter_toy(data: Path, target: Path) -> int:
    """Cut every toy test patch (image and mask) into 4 georeferenced quarters with new ids.

    The toy patches lie 102.4 m apart, so each is a zone mosaic of its own and zone context has
    nothing to add on them. Quartering gives patches that touch, like the real ones: plain
    prediction sees a quarter of the context, zone context rebuilds the original patch.
    """
    from starting_kit.discovery import discover_tree

    samples = discover_tree(data / "flair_1_aerial_test", masks=data / "flair_1_labels_test")
    new_id = 100000
    for sample in samples:
        assert sample.mask is not None
        for kind, source in (("img", sample.image), ("msk", sample.mask)):
            with rasterio.open(source) as src:
                pixels, profile = src.read(), dict(src.profile)
            half = src.height // 2
            for q, (r, c) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
                shifted = src.transform * Affine.translation(c * half, r * half)
                profile.update(height=half, width=half, transform=shifted)
                prefix = "IMG" if kind == "img" else "MSK"
                folder = "flair_1_aerial_test" if kind == "img" else "flair_1_labels_test"
                path = target / folder / sample.domain / sample.zone / kind
                path.mkdir(parents=True, exist_ok=True)
                with rasterio.open(path / f"{prefix}_{new_id + q:06d}.tif", "w", **profile) as dst:
                    dst.write(pixels[:, r * half : (r + 1) * half, c * half : (c + 1) * half])
        new_id += 4
    return len(samples) * 4


def quarters(checkpoint: Path, data: Path, work: Path, device: str) -> list[dict[str, Any]]:
    from baseline.inference import load_predictor
    from baseline.predict import predict
    from baseline.runtime import resolve_amp, resolve_device
    from baseline.zone_context import predict_zones
    from scoring.evaluate import score_folders
    from starting_kit.discovery import discover_tree

    root = work / "quarters"
    n = quarter_toy(data, root)
    truth = root / "flair_1_labels_test"
    rows = []
    for name, options in (
        ("quarters alone (plain)", {}),
        ("zone context, tile = patch size (default)", {"context": "zone"}),
    ):
        out = work / f"q-{len(rows)}"
        predict(checkpoint, root, out, device=device, overwrite=True, **options)
        miou = score_folders(out, truth, workers=1).miou
        rows.append({"method": name, "patches": n, "miou": round(miou, 4)})
    model, cfg = load_predictor(checkpoint)
    torch_device = resolve_device(device)
    model.to(torch_device)
    out = work / "q-64"
    out.mkdir()
    predict_zones(
        model,
        discover_tree(root / "flair_1_aerial_test"),
        out,
        bands=cfg.data.bands,
        amp_dtype=resolve_amp("auto", torch_device),
        device=torch_device,
        tile=64,
    )
    rows.append(
        {
            "method": "zone context, tile 64 (the training size)",
            "patches": n,
            "miou": round(score_folders(out, truth, workers=1).miou, 4),
        }
    )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=2048, help="Side of the throughput raster.")
    parser.add_argument(
        "--shapes",
        default="2048x8192,2048x32768,32768x8192",
        help="HEIGHTxWIDTH of the memory rasters (comma-separated).",
    )
    parser.add_argument("--toy-checkpoint", type=Path)
    parser.add_argument("--toy-data", type=Path)
    parser.add_argument(
        "--skip", action="append", default=[], help="throughput, memory, toy or quarters"
    )
    parser.add_argument("--json", type=Path, help="Also write every figure here.")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    figures: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory(prefix="bench-map-") as scratch:
        work = Path(scratch)
        if "throughput" not in args.skip:
            figures["throughput"] = throughput(work, args.size, args.device)
            print("## map throughput (U-Net/ResNet34, 512 tiles, overlap 128)\n")
            print(table(figures["throughput"]) + "\n", flush=True)
        if "memory" not in args.skip:
            shapes = [(int(h), int(w)) for h, w in (s.split("x") for s in args.shapes.split(","))]
            figures["memory"] = memory(work, shapes)
            print("## peak memory while mapping (pointwise stand-in network)\n")
            print(table(figures["memory"]) + "\n", flush=True)
        if "toy" not in args.skip and args.toy_checkpoint and args.toy_data:
            figures["toy"] = toy(args.toy_checkpoint, args.toy_data, work, args.device)
            print("## toy test set mIoU\n")
            print(table(figures["toy"]) + "\n", flush=True)
        if "quarters" not in args.skip and args.toy_checkpoint and args.toy_data:
            figures["quarters"] = quarters(args.toy_checkpoint, args.toy_data, work, args.device)
            print("## toy test patches cut into touching quarters, mIoU\n")
            print(table(figures["quarters"]) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
