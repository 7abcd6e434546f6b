"""Throughput of the baseline's loops against a plain, IGN-style loop, on the same model and data.

Measured, all on the U-Net/ResNet34 (5 bands, 13 classes, random weights: speed does not depend on
the weights) and on the same toy FLAIR #1 patches:

- inference, model only: our :func:`baseline.inference.predict_batch` (batches, inference_mode,
  channels_last, autocast where native) against a plain loop (batch 1, NCHW, fp32, ``no_grad``,
  softmax + argmax), in tiles/s;
- inference, end to end (read GeoTIFFs, predict, write official PRED files): our
  :func:`baseline.predict.predict` against the plain loop reading with rasterio and writing with
  Pillow one tile at a time;
- training: our :func:`baseline.train.train_one_epoch` (channels_last, autocast where native)
  against a plain fp32 NCHW step with the same batch size, in images/s.

FLAIR #2: the model-only inference of the published U-T&T (``flair2-baseline``: the same U-Net
plus the U-TAE on a 40x40 Sentinel-2 crop of ``--utt-dates`` monthly means, 12 by default) with
our :func:`baseline.inference.predict_batch`, in tiles/s (``--utt-dates 0`` skips it).

Optionally (``--full-test-tiles 15700``) the model-only inference is run over as many tiles as the
full FLAIR #1 test set, cycling the loaded patches (for GPU figures).

Usage:
    python benchmarks/bench_baseline.py                       # CPU defaults, 512x512 patches
    python benchmarks/bench_baseline.py --device cuda --tiles 256 --train-steps 30 \
        --batch-size 32 --full-test-tiles 15700
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import torch
from PIL import Image

from baseline.data import FlairDataset
from baseline.inference import predict_batch
from baseline.model import build_model
from baseline.predict import predict
from baseline.progress import Observer
from baseline.runtime import DistInfo, default_workers, resolve_amp, resolve_device
from baseline.train import LoopSettings, class_weights, train_one_epoch
from scoring.classes import NUM_CLASSES
from starting_kit.discovery import find_split
from starting_kit.toydata import generate_toy_dataset


def machine(device: torch.device) -> str:
    """A one-line description of where the figures were taken."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_inference(model: torch.nn.Module, images: torch.Tensor, device: torch.device) -> float:
    """IGN-style: one tile at a time, NCHW, fp32, no_grad, softmax then argmax. Tiles/s."""
    model = model.to(memory_format=torch.contiguous_format).eval()
    with torch.no_grad():
        model(images[:1].to(device))  # warm-up
        synchronize(device)
        start = time.perf_counter()
        for index in range(images.shape[0]):
            logits = model(images[index : index + 1].to(device))
            logits.softmax(dim=1).argmax(dim=1).cpu()
        synchronize(device)
    return images.shape[0] / (time.perf_counter() - start)


def our_inference(
    model: torch.nn.Module,
    images: torch.Tensor,
    device: torch.device,
    batch: int,
    amp: torch.dtype | None,
) -> float:
    """Our batched loop (predict_batch). Tiles/s."""
    model = model.to(memory_format=torch.channels_last).eval()
    with torch.inference_mode():
        predict_batch(model, images[:batch].to(device), amp_dtype=amp)  # warm-up
        synchronize(device)
        start = time.perf_counter()
        for first in range(0, images.shape[0], batch):
            predict_batch(model, images[first : first + batch].to(device), amp_dtype=amp).cpu()
        synchronize(device)
    return images.shape[0] / (time.perf_counter() - start)


def stream_inference(
    model: torch.nn.Module,
    images: torch.Tensor,
    device: torch.device,
    batch: int,
    amp: torch.dtype | None,
    tiles: int,
) -> float:
    """Our loop over ``tiles`` tiles, cycling the loaded patches (full test set figures). Tiles/s."""
    model = model.to(memory_format=torch.channels_last).eval()
    resident = images.to(device)
    with torch.inference_mode():
        predict_batch(model, resident[:batch], amp_dtype=amp)
        synchronize(device)
        start = time.perf_counter()
        done = 0
        while done < tiles:
            take = min(batch, tiles - done)
            first = done % max(resident.shape[0] - take + 1, 1)
            predict_batch(model, resident[first : first + take], amp_dtype=amp).cpu()
            done += take
        synchronize(device)
    return tiles / (time.perf_counter() - start)


def plain_end_to_end(
    model: torch.nn.Module, samples: list, out: Path, device: torch.device
) -> float:
    """Read with rasterio, predict one tile (fp32, NCHW, no_grad), write with Pillow. Tiles/s."""
    model = model.to(memory_format=torch.contiguous_format).eval()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with torch.no_grad():
        for sample in samples:
            with rasterio.open(sample.image) as src:
                image = torch.from_numpy(src.read().astype(np.float32) / 255.0)[None].to(device)
            classes = model(image).softmax(dim=1).argmax(dim=1)[0].cpu().numpy().astype(np.uint8)
            Image.fromarray(classes).save(
                out / f"PRED_{sample.tile:06d}.tif", compression="tiff_lzw"
            )
    return len(samples) / (time.perf_counter() - start)


def plain_training(
    model: torch.nn.Module,
    dataset: FlairDataset,
    device: torch.device,
    batch: int,
    steps: int,
    workers: int,
) -> float:
    """IGN-style step on the same DataLoader: NCHW, fp32, weighted cross-entropy, SGD. Images/s."""
    model = model.to(memory_format=torch.contiguous_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights(0.0, device))
    loader = _loader(dataset, batch, steps, workers)
    seen = 0
    start = 0.0
    for index, item in enumerate(loader):
        if index == 1:  # the first step warms up (allocations, worker start)
            synchronize(device)
            start = time.perf_counter()
        x, y = item["image"].to(device), item["mask"].to(device)
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
        seen += x.shape[0] if index else 0
    synchronize(device)
    return seen / (time.perf_counter() - start)


def _loader(
    dataset: FlairDataset, batch: int, steps: int, workers: int
) -> torch.utils.data.DataLoader:
    """``steps + 1`` batches of the dataset (the first one is the warm-up)."""
    subset = torch.utils.data.Subset(
        dataset, [i % len(dataset) for i in range((steps + 1) * batch)]
    )
    return torch.utils.data.DataLoader(
        subset, batch_size=batch, num_workers=workers, drop_last=True
    )


def our_training(
    model: torch.nn.Module,
    dataset: FlairDataset,
    device: torch.device,
    batch: int,
    steps: int,
    amp: torch.dtype | None,
    workers: int,
) -> float:
    """Our train_one_epoch (channels_last, autocast) on the same DataLoader. Images/s."""

    class Timer(Observer):
        def __init__(self) -> None:
            self.start = 0.0

        def step(self, stage: str, done: int, total: int, items_per_s: float) -> None:
            if done == 1:  # the first step warms up (allocations, worker start)
                synchronize(device)
                self.start = time.perf_counter()

    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    timer = Timer()
    settings = LoopSettings(device, amp, True, DistInfo(), timer)
    train_one_epoch(
        model,
        _loader(dataset, batch, steps, workers),
        optimizer,
        class_weights(0.0, device),
        settings,
    )
    synchronize(device)
    return steps * batch / (time.perf_counter() - timer.start)


def utt_inference(
    images: torch.Tensor, device: torch.device, batch: int, amp: torch.dtype | None, dates: int
) -> float:
    """The published U-T&T (random weights) with our batched loop on ``dates`` S2 dates. Tiles/s."""
    from baseline.config import load_config
    from baseline.fusion import build_network

    cfg = load_config("flair2-baseline")
    torch.manual_seed(0)
    model = build_network(cfg, 5, "none").to(device).to(memory_format=torch.channels_last).eval()
    size = cfg.sentinel.patch_size
    generator = torch.Generator().manual_seed(0)
    series = torch.rand(batch, dates, 10, size, size, generator=generator).to(device)
    days = torch.linspace(120, -214, dates).repeat(batch, 1).to(device)
    mask = torch.ones(batch, dates, dtype=torch.bool, device=device)

    def run(chunk: torch.Tensor) -> torch.Tensor:
        n = chunk.shape[0]
        sentinel = (series[:n], days[:n], mask[:n])
        return predict_batch(model, chunk.to(device), amp_dtype=amp, sentinel=sentinel)

    with torch.inference_mode():
        run(images[:batch])  # warm-up
        synchronize(device)
        start = time.perf_counter()
        for first in range(0, images.shape[0], batch):
            run(images[first : first + batch]).cpu()
        synchronize(device)
    return images.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", type=int, default=512, help="patch side in pixels [512, as FLAIR]"
    )
    parser.add_argument("--tiles", type=int, default=16, help="test tiles timed [16]")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="our inference and training batch [8]"
    )
    parser.add_argument("--train-steps", type=int, default=3, help="timed training steps [3]")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"])
    parser.add_argument(
        "--workers", type=int, default=None, help="DataLoader workers [0 on CPU, <= 8 on GPU]"
    )
    parser.add_argument(
        "--full-test-tiles", type=int, default=0, help="also time N streamed tiles (15700)"
    )
    parser.add_argument(
        "--utt-dates", type=int, default=12, help="S2 dates of the U-T&T timing (0: skip) [12]"
    )
    args = parser.parse_args()

    device = resolve_device(args.device)
    amp = resolve_amp(args.amp, device)
    workers = default_workers(device) if args.workers is None else args.workers
    torch.manual_seed(0)
    model = build_model("unet", "resnet34", 5, NUM_CLASSES).to(device)
    scratch = Path(tempfile.mkdtemp(prefix="flair-kit-bench-"))
    try:
        n_train = max(args.batch_size * 2, 16)
        toy = generate_toy_dataset(
            scratch / "data", size=args.size, n_train=n_train, n_test=args.tiles
        )
        test = find_split(toy.root, "test")
        train_samples = find_split(toy.root, "train")
        test_set = FlairDataset(test, (1, 2, 3, 4, 5), with_masks=False)
        images = torch.stack([test_set[i]["image"] for i in range(len(test_set))])
        train_set = FlairDataset(train_samples, (1, 2, 3, 4, 5), augment=True)

        print(f"machine: {machine(device)}")
        print(
            f"patches {args.size}x{args.size}, 5 bands, U-Net/ResNet34; ours: batch {args.batch_size}, amp {amp or 'off'}, channels_last, {workers} DataLoader workers"
        )
        rows = []
        plain = plain_inference(model, images, device)
        ours = our_inference(model, images, device, args.batch_size, amp)
        rows.append(("inference, model only (tiles/s)", plain, ours))
        from baseline.checkpoint import model_payload, save_checkpoint
        from baseline.config import TrainConfig

        checkpoint = scratch / "bench.pt"
        save_checkpoint(checkpoint, model_payload(model.state_dict(), TrainConfig(), epoch=0))
        plain_e2e = plain_end_to_end(model, test, scratch / "plain", device)
        result = predict(
            checkpoint, toy.root, scratch / "ours", batch_size=args.batch_size, device=str(device.type),
            amp=args.amp, num_workers=workers,
        )  # fmt: skip
        rows.append(("inference, files to PRED files (tiles/s)", plain_e2e, result.tiles_per_s))
        plain_train = plain_training(
            model, train_set, device, args.batch_size, args.train_steps, workers
        )
        ours_train = our_training(
            model, train_set, device, args.batch_size, args.train_steps, amp, workers
        )
        rows.append(("training (images/s)", plain_train, ours_train))
        print()
        print("| measure | plain loop | ours | speed-up |")
        print("|---|---:|---:|---:|")
        for name, slow, fast in rows:
            print(f"| {name} | {slow:.2f} | {fast:.2f} | {fast / slow:.2f}x |")
        if args.utt_dates:
            rate = utt_inference(images, device, args.batch_size, amp, args.utt_dates)
            print(
                f"\nU-T&T (flair2-baseline, {args.utt_dates} Sentinel-2 dates of 40x40), "
                f"inference, model only: {rate:.2f} tiles/s (U-Net alone: {ours:.2f})"
            )
        if args.full_test_tiles:
            rate = stream_inference(
                model, images, device, args.batch_size, amp, args.full_test_tiles
            )
            print(
                f"\nfull test set: {args.full_test_tiles} tiles at {rate:.1f} tiles/s, "
                f"{args.full_test_tiles / rate:.0f} s (model only, data resident on the device)"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
