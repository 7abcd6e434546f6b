"""The baseline's commands: ``flair-kit baseline train|predict|map`` and ``flair-kit demo``.

A typer sub-app that the root command line (:mod:`starting_kit.cli`) finds through the
``flair_kit.commands`` entry point declared in ``pyproject.toml``; :func:`register` adds it (and
the root-level ``demo``). A new baseline command goes here, as a thin function over a library
function of :mod:`baseline`.

This module imports neither torch nor the modules that do: ``flair-kit score`` loads it on every
start. Each command first checks the baseline extra (:func:`baseline.require_dependencies`, which
names the install command), then imports its library module; those imports stay inside the
commands for start-up speed only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from baseline import require_dependencies
from baseline.budget import budget_warning, parse_duration
from baseline.choices import (
    MAP_PRODUCTS,
    Amp,
    Device,
    ImportNormalisation,
    MapProduct,
    PredictContext,
    WeightsSource,
)
from starting_kit.choices import Dataset
from starting_kit.options import (
    OutAlias,
    WorkdirAlias,
    domain_errors_exit,
    main_output,
    output_option,
    overwrite_option,
    required_output,
)

#: ``--raster`` with one of these suffixes is a list of rasters, one path a line.
LIST_SUFFIXES = (".txt", ".lst")

baseline_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help=(
        "Train or run the reference models (FLAIR #1 U-Net/ResNet34, FLAIR #2 U-T&T). Needs torch "
        "and segmentation-models-pytorch (the baseline extra)."
    ),
)

#: ``--device`` of every command that runs a model (None: the configuration's, for ``train``).
DeviceOption = Annotated[Device | None, typer.Option("--device", help="auto, cpu or cuda.")]
#: ``--amp`` of every command that runs a model (None: the configuration's, for ``train``).
AmpOption = Annotated[
    Amp | None,
    typer.Option(
        "--amp",
        help="Autocast: auto (bf16 where native; float32 to predict with imported weights), "
        "off, bf16, fp16.",
    ),
]
Checkpoint = Annotated[
    Path, typer.Option("--checkpoint", help="best.pt or last.pt of a training run.")
]
Metadata = Annotated[
    Path | None,
    typer.Option("--metadata", help="Aerial metadata JSON (metadata models)."),
]
Tta = Annotated[
    bool,
    typer.Option("--tta", help="Average the 8 flips/rotations (D4 test-time augmentation)."),
]


def register(app: typer.Typer) -> None:
    """Add ``baseline`` and ``demo`` to the root command line (the entry point's target)."""
    app.command("demo")(demo)
    app.add_typer(baseline_app, name="baseline")


@baseline_app.command("train")
@domain_errors_exit
def baseline_train(
    config: Annotated[
        str,
        typer.Option(
            "--config",
            help=(
                "YAML file, or a packaged config: flair1-baseline, flair1-toy-cpu, "
                "flair2-baseline, flair2-toy-cpu."
            ),
        ),
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Dataset root (flair_aerial_train/, flair_labels_train/) or a path csv.",
        ),
    ] = None,
    val: Annotated[
        Path | None,
        typer.Option(
            "--val", help="Validation path csv (e.g. flair-1-paths-val.csv) [split by domains]."
        ),
    ] = None,
    output: Annotated[
        Path | None, output_option("Run folder (checkpoints, metrics.csv, split.json).")
    ] = None,
    out: OutAlias = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Maximum number of epochs.")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="Images per step and process."),
    ] = None,
    accumulate_steps: Annotated[
        int | None,
        typer.Option(
            "--accumulate-steps",
            min=1,
            help="Batches per optimiser step (gradient accumulation for small GPUs).",
        ),
    ] = None,
    device: DeviceOption = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of split, sampler, augmentation, weights."),
    ] = None,
    amp: AmpOption = None,
    encoder_weights: Annotated[
        str | None,
        typer.Option("--encoder-weights", help="none, imagenet, or a local encoder weights file."),
    ] = None,
    metadata: Metadata = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=0, help="DataLoader workers per process."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the run in --output exactly where it stopped."),
    ] = False,
    overwrite: Annotated[
        bool, overwrite_option("Start over in a run folder that holds a run.")
    ] = False,
) -> None:
    """Train the baseline (several GPUs/nodes: torchrun --nproc_per_node N -m starting_kit baseline train ...)."""
    require_dependencies()
    from baseline.config import load_config, with_overrides
    from baseline.model import check_encoder_name
    from baseline.progress import ConsoleObserver
    from baseline.train import render_train_result, train

    overrides = {
        "data.train": data,
        "data.val": val,
        "out": main_output(output, out, "--out"),
        "epochs": epochs,
        "batch_size": batch_size,
        "accumulate_steps": accumulate_steps,
        "device": device,
        "seed": seed,
        "amp": amp,
        "model.encoder_weights": encoder_weights,
        "data.metadata": metadata,
        "data.num_workers": workers,
    }
    cfg = with_overrides(load_config(config), **overrides)
    check_encoder_name(cfg.model.encoder, where=config)  # names the file, before any work
    result = train(cfg, resume=resume, overwrite=overwrite, observer=ConsoleObserver(sys.stderr))
    if result.rank == 0:
        typer.echo(render_train_result(result), nl=False)


@baseline_app.command("predict")
@domain_errors_exit
def baseline_predict(
    checkpoint: Checkpoint,
    data: Annotated[
        Path,
        typer.Option("--data", help="Dataset root, folder of test images, or a path csv."),
    ],
    output: Annotated[
        Path | None,
        output_option(
            "Folder for the PRED_<id>.tif files (required; written whole or not at all).",
            show_default=False,
        ),
    ] = None,
    out: OutAlias = None,
    pack: Annotated[
        Path | None,
        typer.Option("--pack", help="Also write the validated submission zip here."),
    ] = None,
    tta: Tta = False,
    georeferenced: Annotated[
        bool,
        typer.Option(
            "--georeferenced",
            help="Keep the input's CRS and transform (rasterio) instead of plain TIFFs.",
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Patches per forward pass.")
    ] = 8,
    device: DeviceOption = "auto",
    amp: AmpOption = "auto",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="DataLoader reader processes [0 on CPU, 5/8 of the cores on a GPU].",
        ),
    ] = None,
    bands: Annotated[
        str | None,
        typer.Option(
            "--bands",
            help="Comma-separated 1-based bands; must equal the checkpoint's [checkpoint's].",
        ),
    ] = None,
    metadata: Metadata = None,
    overwrite: Annotated[
        bool,
        overwrite_option(
            "Replace the PRED files in --output (all of them), the zip and the --timings file."
        ),
    ] = False,
    context: Annotated[
        PredictContext,
        typer.Option(
            "--context",
            help=(
                "patch: each patch alone; zone: inside its zone rebuilt from the georeferencing "
                "(blended windows)."
            ),
        ),
    ] = "patch",
    compile_model: Annotated[
        bool,
        typer.Option(
            "--compile",
            help="torch.compile the model (faster on GPUs after a slow first batch; eager "
            "mode with a warning if it fails).",
        ),
    ] = False,
    budget: Annotated[
        str | None,
        typer.Option(
            "--budget",
            help="Warn when the run's wall time exceeds this, e.g. 25m (s, m or h).",
        ),
    ] = None,
    timings: Annotated[
        Path | None,
        typer.Option(
            "--timings",
            help="Write wall and model times as JSON here (never inside --output, the zip or "
            "an input; an existing file needs --overwrite).",
        ),
    ] = None,
) -> None:
    """Predict test patches into official PRED_<id>.tif files (and a submission zip with --pack).

    A dataset root means its test split (flair_1_aerial_test/ or flair_2_aerial_test/).
    """
    require_dependencies()
    from baseline.predict import predict, render_predict_result
    from baseline.progress import ConsoleObserver

    try:
        band_list = tuple(int(b) for b in bands.split(",")) if bands else None
    except ValueError:
        raise typer.BadParameter(
            f"--bands {bands!r}: expected comma-separated integers such as 1,2,3,4,5"
        ) from None
    try:
        budget_s = parse_duration(budget) if budget is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--budget'") from None
    result = predict(
        checkpoint,
        data,
        required_output(output, out, "--out"),
        batch_size=batch_size,
        device=device or "auto",
        amp=amp or "auto",
        tta=tta,
        georeferenced=georeferenced,
        num_workers=workers,
        bands=band_list,
        metadata=metadata,
        pack=pack,
        overwrite=overwrite,
        observer=ConsoleObserver(sys.stderr, unit="tiles"),
        context=context,
        compile_model=compile_model,
        timings=timings,
    )
    typer.echo(render_predict_result(result), nl=False)
    if budget is not None and budget_s is not None:
        warning = budget_warning(result.wall_s, budget_s, budget)
        if warning is not None:
            typer.echo(warning, err=True)


@baseline_app.command("map")
@domain_errors_exit
def baseline_map(
    checkpoint: Checkpoint,
    raster: Annotated[
        Path,
        typer.Option(
            "--raster",
            help=(
                "Georeferenced (CRS and geotransform) uint8 raster of any size with the "
                "checkpoint's bands (a VRT is one raster), or a folder or a text list (LIST.txt) of "
                "them (one output each, by stem, into the --output folder)."
            ),
        ),
    ],
    output: Annotated[
        Path | None,
        output_option(
            "GeoTIFF to write (required; the input's CRS and transform); the folder of the "
            "outputs when --raster is a folder or a list.",
            show_default=False,
        ),
    ] = None,
    out: OutAlias = None,
    product: Annotated[
        MapProduct,
        typer.Option(
            "--product",
            help=(
                "classes (uint8 + colour table) or probabilities (uint8 x 255, one band per class)."
            ),
        ),
    ] = "classes",
    tile: Annotated[
        int, typer.Option("--tile", min=1, help="Tile side in pixels (the model's patch size).")
    ] = 512,
    overlap: Annotated[
        int | None,
        typer.Option(
            "--overlap", min=0, help="Pixels shared by neighbouring tiles (default tile/4)."
        ),
    ] = None,
    margin: Annotated[
        int | None,
        typer.Option(
            "--margin",
            min=0,
            help="Inner tile border given no weight, at most overlap/2 (default tile/8).",
        ),
    ] = None,
    cog: Annotated[
        bool, typer.Option("--cog", help="Write a Cloud-Optimized GeoTIFF (with overviews).")
    ] = False,
    tta: Annotated[
        bool, typer.Option("--tta", help="Average the 8 flips/rotations of every tile (D4).")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Tiles per forward pass.")
    ] = 8,
    device: DeviceOption = "auto",
    amp: AmpOption = "auto",
    overwrite: Annotated[
        bool,
        overwrite_option(
            "Replace an existing --output file (a folder: map every raster again, with this "
            "checkpoint and these options)."
        ),
    ] = False,
    quicklook: Annotated[
        bool,
        typer.Option(
            "--quicklook",
            help="Also write NAME.quicklook.png beside each map: a small picture with a legend.",
        ),
    ] = False,
    quicklook_size: Annotated[
        int,
        typer.Option("--quicklook-size", min=16, help="Longest side of a quicklook in pixels."),
    ] = 1024,
    challenge_classes: Annotated[
        bool,
        typer.Option(
            "--challenge-classes",
            help="Write the 13 challenge classes (through the checkpoint's crosswalk) instead "
            "of the model's own classes.",
        ),
    ] = False,
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            help="Metadata models: a JSON with the raster's one aerial metadata entry "
            "(patch_centroid_x/y/z, date, time, camera).",
        ),
    ] = None,
) -> None:
    """Map large rasters: blended sliding-window inference, bounded memory, GeoTIFF/COG output.

    A folder or a list of rasters is shared out over the processes of torchrun and resumes:
    a rerun skips the maps already written.
    """
    require_dependencies()
    from baseline.mapping import map_raster, map_rasters, render_area_result, render_map_result
    from baseline.progress import ConsoleObserver

    # The options both the one-raster and the many-raster paths take.
    options: dict[str, Any] = {
        "tile": tile,
        "overlap": overlap,
        "margin": margin,
        "output": product,
        "cog": cog,
        "tta": tta,
        "batch_size": batch_size,
        "device": device or "auto",
        "amp": amp or "auto",
        "overwrite": overwrite,
        "observer": ConsoleObserver(sys.stderr, unit="tiles"),
        "quicklook": quicklook_size if quicklook else None,
        "challenge_classes": challenge_classes,
        "metadata": metadata,
    }
    if raster.is_dir() or raster.suffix.lower() in LIST_SUFFIXES:
        area = map_rasters(checkpoint, raster, required_output(output, out, "--out"), **options)
        if area.is_main:
            typer.echo(render_area_result(area), nl=False)
        return

    if output is not None and not output.suffix and output.name in MAP_PRODUCTS:
        raise typer.BadParameter(
            f"--output names the GeoTIFF to write; choose {output.name} with --product "
            f"{output.name} (e.g. --output {output.name}.tif --product {output.name})",
            param_hint="'--output'",
        )
    result = map_raster(checkpoint, raster, required_output(output, out, "--out"), **options)
    typer.echo(render_map_result(result), nl=False)


@baseline_app.command("import-weights")
@domain_errors_exit
def baseline_import_weights(
    src: Annotated[
        Path,
        typer.Argument(
            help="IGN's weights: a Lightning checkpoint (*.ckpt), a state dict (*.pth, *.pt) or a "
            "safetensors file (never executed: files that need pickled code are refused)."
        ),
    ],
    output: Annotated[
        Path | None,
        output_option("flair-kit checkpoint to write (required).", show_default=False),
    ] = None,
    out: OutAlias = None,
    source: Annotated[
        WeightsSource,
        typer.Option(
            "--from",
            help="Source family: auto (detected from the keys), ign-flair1, ign-flair2 "
            "or flair-inc.",
        ),
    ] = "auto",
    bands: Annotated[
        str | None,
        typer.Option(
            "--bands",
            help="The model's input bands in order, e.g. R,G,B or NIR,R,G [RGB, RGBI or RGBIE by "
            "the first convolution's band count].",
        ),
    ] = None,
    classes: Annotated[
        int | None,
        typer.Option(
            "--classes",
            help="Active classes of a 19-logit FLAIR-order head: 12, 15 or 19 [the file's loss "
            "weights, else '12cl'/'15cl' in its name].",
        ),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option("--arch", help="smp architecture, e.g. unet, deeplabv3 [from the keys]."),
    ] = None,
    encoder: Annotated[
        str | None,
        typer.Option("--encoder", help="smp encoder, e.g. resnet34, mit_b5 [from the keys]."),
    ] = None,
    normalisation: Annotated[
        ImportNormalisation | None,
        typer.Option(
            "--normalisation",
            help="flair-inc (IGN's FLAIR-INC per-band mean/std) or unit (x/255) [the family's].",
        ),
    ] = None,
    resolution: Annotated[
        float | None,
        typer.Option("--resolution", min=0.01, help="Ground pixel size in metres [0.2]."),
    ] = None,
    overwrite: Annotated[bool, overwrite_option("Replace an existing --output.")] = False,
) -> None:
    """Import IGN's published weights (FLAIR #1, FLAIR #2, FLAIR-INC) as a flair-kit checkpoint.

    The architecture, bands and classes are read from the keys and shapes; a fact the file does
    not tell stops the import with the option that supplies it. predict, map and the zone
    context then use the checkpoint like any other.
    """
    require_dependencies()
    from baseline.contract import parse_bands
    from baseline.weights.importer import import_weights, render_import_result
    from baseline.weights.layout import ImportOptions

    if classes is not None and classes not in (12, 15, 19):
        raise typer.BadParameter(f"--classes {classes}: expected 12, 15 or 19")
    result = import_weights(
        src,
        required_output(output, out, "--out"),
        family=source,
        options=ImportOptions(
            bands=parse_bands(bands) if bands is not None else None,
            classes=classes,
            arch=arch,
            encoder=encoder,
            normalisation=normalisation,
            resolution_m=resolution,
        ),
        overwrite=overwrite,
    )
    typer.echo(render_import_result(result), nl=False)


@domain_errors_exit
def demo(
    output: Annotated[
        Path | None,
        output_option("Folder for every output [default: flair-kit-demo].", show_default=False),
    ] = None,
    workdir: WorkdirAlias = None,
    dataset: Annotated[Dataset, typer.Option("--dataset", help="Which challenge.")] = "flair1",
    device: DeviceOption = "auto",
    overwrite: Annotated[bool, overwrite_option("Replace a previous demo in --output.")] = False,
) -> None:
    """Toy data, training, prediction, zip, validation and official score: the kit end to end."""
    require_dependencies()
    from baseline.demo import render_demo_result, run_demo
    from baseline.progress import ConsoleObserver
    from scoring.render import render_text

    result = run_demo(
        main_output(output, workdir, "--workdir") or Path("flair-kit-demo"),
        dataset,
        overwrite=overwrite,
        device=device or "auto",
        observer=ConsoleObserver(sys.stderr),
    )
    typer.echo(render_text(result.report), nl=False)
    typer.echo(render_demo_result(result), nl=False)
