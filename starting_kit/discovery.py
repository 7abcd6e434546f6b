"""Find FLAIR samples in a dataset tree or an official path list, and pair their files by id.

A :class:`Sample` is one aerial patch with everything that belongs to it: its image, its mask,
its zone's Sentinel-2 triplet (FLAIR #2), its centroid in that zone's super-area (FLAIR #2) and
its aerial metadata entry. The baselines' datasets, ``pack --expect`` and the scorer's per-domain
breakdown all learn ids, domains and zones from here.

Pairing is always by id (images and masks) or by ``(domain, zone)`` (Sentinel-2 triplets), never
by position in a sorted list and never by slicing path strings. Everything that does not pair is an
error naming the files or ids (the first ten and the total):

- an image without its mask, when masks are required or a masks folder is given
  (:class:`~scoring.errors.MissingFileError`);
- a mask without its image, or in another domain/zone than its image (:class:`~scoring.errors.DataError`);
- a zone without its Sentinel-2 triplet or with an incomplete one (``MissingFileError``), a zone
  with two triplets or a triplet misnamed for its folder (``DataError``);
- an image missing from the centroid or metadata JSON, or a metadata entry whose domain/zone
  contradicts the folders (``DataError``).

Files that are not dataset files (a README next to the domain folders, ``.DS_Store``, GDAL's
``.aux.xml`` side files) are ignored: the official loaders break on them, this module does not.
A dataset file outside the ``<DOMAIN>/<ZONE>/<leaf>/<file>`` layout is an error, because it would
otherwise be silently dropped.

Pure Python: the standard library and :mod:`scoring` only (no numpy, no torch).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal, NamedTuple

from scoring.errors import ConfigError, DataError, MissingFileError, summarize
from scoring.tiles import domain_zone, format_id, summarize_duplicates, tile_id, walk_files
from starting_kit.choices import Dataset
from starting_kit.pathlists import read_path_list

#: The 8 fields of an aerial metadata entry, in the order of IGN's file.
METADATA_FIELDS = (
    "domain",
    "zone",
    "patch_centroid_x",
    "patch_centroid_y",
    "patch_centroid_z",
    "date",
    "time",
    "camera",
)
#: Names under which IGN shipped the aerial metadata JSON (formats.md section 4.3), in the order
#: :func:`find_split` looks for them.
METADATA_NAMES = (
    "flair-1_metadata_aerial.json",
    "flair_aerial_metadata.json",
    "flair-one_metadata.json",
    "flair-one_TOY_metadata.json",
)
#: The FLAIR #2 patch-to-super-area centroid file.
#: The 8 domains of IGN's official FLAIR #1 validation list (csv_full/flair-1-paths-val.csv).
OFFICIAL_VAL_DOMAINS: tuple[str, ...] = (
    "D004_2021",
    "D014_2020",
    "D029_2021",
    "D031_2019",
    "D058_2020",
    "D066_2021",
    "D067_2021",
    "D070_2020",
)
CENTROIDS_NAME = "flair-2_centroids_sp_to_patch.json"
#: Suffixes of the three files of a Sentinel-2 triplet (the official loader globs ``*<suffix>``).
SENTINEL_SUFFIXES = ("data.npy", "masks.npy", "products.txt")

Split = Literal["train", "test"]


class SplitFolders(NamedTuple):
    """The official folder names of one split of one challenge."""

    images: str
    masks: str
    sentinel: str | None
    masks_required: bool


#: Official folder names (formats.md sections 2.2 and 2.3). Test labels were released after the
#: challenges, so they are optional.
SPLIT_FOLDERS: dict[tuple[str, str], SplitFolders] = {
    ("flair1", "train"): SplitFolders("flair_aerial_train", "flair_labels_train", None, True),
    ("flair1", "test"): SplitFolders("flair_1_aerial_test", "flair_1_labels_test", None, False),
    ("flair2", "train"): SplitFolders(
        "flair_aerial_train", "flair_labels_train", "flair_sen_train", True
    ),
    ("flair2", "test"): SplitFolders(
        "flair_2_aerial_test", "flair_2_labels_test", "flair_2_sen_test", False
    ),
}


@dataclass(frozen=True)
class SentinelFiles:
    """The Sentinel-2 super-area triplet of one zone (FLAIR #2)."""

    data: Path
    masks: Path
    products: Path


@dataclass(frozen=True)
class Sample:
    """One aerial patch and the files and records that belong to it."""

    tile: int
    domain: str
    zone: str
    image: Path
    mask: Path | None
    sentinel: SentinelFiles | None = None
    centroid: tuple[int, int] | None = None
    metadata: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def name(self) -> str:
        """The patch name used as key by IGN's metadata JSON, e.g. ``IMG_000717``."""
        return f"IMG_{format_id(self.tile)}"


class _Located(NamedTuple):
    """A dataset file with its id and the domain/zone of its folders."""

    tile: int
    domain: str
    zone: str
    path: Path


def _paths(paths: Sequence[Path]) -> str:
    return summarize([str(p) for p in paths])


def _locate(path: Path, root: Path, expected: str) -> tuple[str, str]:
    located = domain_zone(path.relative_to(root))
    if located is None:
        raise DataError(
            f"{path}: outside the dataset layout; expected {root}/<DOMAIN>/<ZONE>/{expected} "
            "(e.g. D012_2019/Z10_UU), move the file there or remove it"
        )
    return located


def _index_kind(root: Path, kind: str, leaf: str) -> dict[int, _Located]:
    """Index the ``IMG``/``MSK`` files under a split folder by id (stray files are ignored)."""
    prefix = "IMG" if kind == "image" else "MSK"
    if not root.is_dir():
        raise MissingFileError(
            f"{root}: folder not found; expected <DOMAIN>/<ZONE>/{leaf}/{prefix}_<id>.tif files"
        )
    found: dict[int, _Located] = {}
    duplicates: dict[int, list[Path]] = {}
    for path in walk_files(root):
        tile = tile_id(path.name, kind)
        if tile is None:
            continue
        domain, zone = _locate(path, root, f"{leaf}/{path.name}")
        if tile in found:
            duplicates.setdefault(tile, [found[tile].path]).append(path)
            continue
        found[tile] = _Located(tile, domain, zone, path)
    if duplicates:
        raise DataError(
            f"{root}: ids found more than once: {summarize_duplicates(duplicates)}; keep one file "
            "per id"
        )
    return found


def _pair_masks(images: dict[int, _Located], masks: dict[int, _Located], masks_root: Path) -> None:
    """Check that every image has its mask in the same domain/zone and no mask is orphan."""
    missing = sorted(set(images) - set(masks))
    if missing:
        raise MissingFileError(
            f"{masks_root}: no mask for {len(missing)} of {len(images)} images: "
            f"{_paths([images[t].path for t in missing])}; expected MSK_<id>.tif files mirroring "
            "the image tree"
        )
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise DataError(
            f"{len(orphans)} masks have no image: {_paths([masks[t].path for t in orphans])}; "
            "remove them or add their IMG_<id>.tif files"
        )
    misplaced = [
        t
        for t in sorted(images)
        if (masks[t].domain, masks[t].zone) != (images[t].domain, images[t].zone)
    ]
    if misplaced:
        details = [
            f"{masks[t].path} is in {masks[t].domain}/{masks[t].zone} but its image in "
            f"{images[t].domain}/{images[t].zone}"
            for t in misplaced
        ]
        raise DataError(f"masks in the wrong folder: {summarize(details)}")


def _sentinel_kind(name: str) -> str | None:
    for suffix in SENTINEL_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def index_sentinel(root: Path) -> dict[tuple[str, str], SentinelFiles]:
    """Index the Sentinel-2 triplets of a ``flair_sen_*`` tree by ``(domain, zone)``.

    Every file whose name ends like a triplet member (the official glob: ``*data.npy``,
    ``*masks.npy``, ``*products.txt``) counts, so that a second triplet in a zone is caught
    instead of silently misaligning the series, as it would in the official loader.

    Raises:
        MissingFileError: ``root`` is not a folder, or a zone's triplet is incomplete.
        DataError: two files of one kind in a zone, a file outside the layout, or a name that is
            not ``SEN2_sp_<DOMAIN>-<ZONE>_<kind>`` for its folder.
    """
    if not root.is_dir():
        raise MissingFileError(
            f"{root}: folder not found; expected <DOMAIN>/<ZONE>/sen/SEN2_sp_<DOMAIN>-<ZONE>_"
            "{data.npy,masks.npy,products.txt}"
        )
    by_zone: dict[tuple[str, str], dict[str, list[Path]]] = {}
    for path in walk_files(root):
        kind = _sentinel_kind(path.name)
        if kind is None:
            continue
        located = _locate(path, root, f"sen/{path.name}")
        by_zone.setdefault(located, {}).setdefault(kind, []).append(path)
    triplets: dict[tuple[str, str], SentinelFiles] = {}
    for (domain, zone), kinds in sorted(by_zone.items()):
        doubled = [p for paths in kinds.values() if len(paths) > 1 for p in paths]
        if doubled:
            raise DataError(
                f"two Sentinel-2 triplets in zone {domain}/{zone}: {_paths(doubled)}; keep "
                "exactly one SEN2_sp_<DOMAIN>-<ZONE>_* triplet per zone"
            )
        absent = [k for k in SENTINEL_SUFFIXES if k not in kinds]
        if absent:
            raise MissingFileError(
                f"{root}/{domain}/{zone}: incomplete Sentinel-2 triplet, missing "
                f"{', '.join(f'SEN2_sp_{domain}-{zone}_{k}' for k in absent)}"
            )
        for kind, (path,) in kinds.items():
            expected = f"SEN2_sp_{domain}-{zone}_{kind}"
            if path.name != expected:
                raise DataError(
                    f"{path}: a Sentinel-2 file of zone {domain}/{zone} must be named {expected} "
                    "(domain, hyphen, zone)"
                )
        triplets[(domain, zone)] = SentinelFiles(
            kinds["data.npy"][0], kinds["masks.npy"][0], kinds["products.txt"][0]
        )
    return triplets


def _load_json_object(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise MissingFileError(f"{path}: {what} not found")
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); expected the {what}") from exc
    if not isinstance(loaded, dict):
        raise DataError(
            f"{path}: holds a JSON {type(loaded).__name__}; expected an object (the {what})"
        )
    return loaded


def load_centroids(path: Path) -> dict[int, tuple[int, int]]:
    """Read ``flair-2_centroids_sp_to_patch.json``: ``{"IMG_<id>.tif": [row, col]}`` by id.

    Raises:
        MissingFileError: the file does not exist.
        DataError: not a JSON object, a key that is not ``IMG_<id>.tif``, or a value that is not
            two integers.
    """
    raw = _load_json_object(path, "centroid JSON")
    centroids: dict[int, tuple[int, int]] = {}
    for key, value in raw.items():
        tile = tile_id(key, "image")
        if tile is None:
            raise DataError(f"{path}: key {key!r} is not an image name; expected IMG_<id>.tif")
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise DataError(f"{path}: {key} maps to {value!r}; expected [row, col], two integers")
        centroids[tile] = (value[0], value[1])
    return centroids


def load_metadata(path: Path) -> dict[int, dict[str, Any]]:
    """Read the aerial metadata JSON (``{"IMG_<id>": {8 fields}}``) by id.

    Raises:
        MissingFileError: the file does not exist.
        DataError: not a JSON object, a key that is not ``IMG_<id>``, or an entry without the 8
            fields of :data:`METADATA_FIELDS`.
    """
    raw = _load_json_object(path, "aerial metadata JSON")
    entries: dict[int, dict[str, Any]] = {}
    for key, value in raw.items():
        tile = tile_id(f"{key}.tif", "image")
        if tile is None:
            raise DataError(f"{path}: key {key!r} is not a patch name; expected IMG_<id>")
        if not isinstance(value, dict):
            raise DataError(f"{path}: entry {key} is a {type(value).__name__}; expected an object")
        absent = [f for f in METADATA_FIELDS if f not in value]
        if absent:
            raise DataError(f"{path}: entry {key} lacks the fields {', '.join(absent)}")
        entries[tile] = value
    return entries


def _attach(
    core: list[_Located],
    masks: dict[int, Path | None],
    *,
    sentinel: Path | None,
    centroids: Path | None,
    metadata: Path | None,
) -> list[Sample]:
    """Join the Sentinel-2 triplets, centroids and metadata to located images by zone and id."""
    triplets = index_sentinel(sentinel) if sentinel is not None else None
    if triplets is not None:
        bare = sorted({(c.domain, c.zone) for c in core} - set(triplets))
        if bare:
            raise MissingFileError(
                f"{sentinel}: no Sentinel-2 triplet for {len(bare)} zones with images: "
                f"{summarize([f'{d}/{z}' for d, z in bare])}; expected "
                "<DOMAIN>/<ZONE>/sen/SEN2_sp_<DOMAIN>-<ZONE>_{data.npy,masks.npy,products.txt}"
            )
    points = load_centroids(centroids) if centroids is not None else None
    if points is not None:
        absent = [c.tile for c in core if c.tile not in points]
        if absent:
            raise DataError(
                f"{centroids}: no centroid for {len(absent)} of {len(core)} images: "
                f"{summarize([f'IMG_{format_id(t)}.tif' for t in sorted(absent)])}"
            )
    entries = load_metadata(metadata) if metadata is not None else None
    if entries is not None:
        absent = [c.tile for c in core if c.tile not in entries]
        if absent:
            raise DataError(
                f"{metadata}: no entry for {len(absent)} of {len(core)} images: "
                f"{summarize([f'IMG_{format_id(t)}' for t in sorted(absent)])}"
            )
        contradicting = [
            f"IMG_{format_id(c.tile)} (JSON {entries[c.tile]['domain']}/{entries[c.tile]['zone']}, "
            f"folders {c.domain}/{c.zone})"
            for c in core
            if (entries[c.tile]["domain"], entries[c.tile]["zone"]) != (c.domain, c.zone)
        ]
        if contradicting:
            raise DataError(
                f"{metadata}: domain/zone contradict the folders for {summarize(contradicting)}"
            )
    return [
        Sample(
            tile=c.tile,
            domain=c.domain,
            zone=c.zone,
            image=c.path,
            mask=masks.get(c.tile),
            sentinel=triplets[(c.domain, c.zone)] if triplets is not None else None,
            centroid=points[c.tile] if points is not None else None,
            metadata=entries[c.tile] if entries is not None else None,
        )
        for c in sorted(core, key=lambda c: c.tile)
    ]


def discover_tree(
    images: Path,
    *,
    masks: Path | None = None,
    sentinel: Path | None = None,
    centroids: Path | None = None,
    metadata: Path | None = None,
    require_masks: bool = False,
) -> list[Sample]:
    """Find the samples of a dataset tree (``<images>/<DOMAIN>/<ZONE>/img/IMG_<id>.tif``).

    Args:
        images: an aerial folder such as ``flair_aerial_train``.
        masks: the mirrored labels folder (``flair_labels_train``); when given, every image needs
            its mask and every mask its image.
        sentinel: the Sentinel-2 folder (``flair_sen_train``), FLAIR #2.
        centroids: ``flair-2_centroids_sp_to_patch.json``, FLAIR #2.
        metadata: the aerial metadata JSON.
        require_masks: refuse to go on without a masks folder.

    Returns:
        The samples sorted by id.

    Raises:
        ConfigError: ``require_masks`` without ``masks``.
        MissingFileError: a folder or file does not exist, an image has no mask, a zone has no
            Sentinel-2 triplet.
        DataError: no image at all, duplicate ids, orphan or misplaced masks, and the JSON
            problems listed in the module docstring.
    """
    if require_masks and masks is None:
        raise ConfigError(f"{images}: masks are required but no masks folder was given")
    found = _index_kind(images, "image", "img")
    if not found:
        raise DataError(
            f"{images}: no IMG_<id>.tif image found; expected <DOMAIN>/<ZONE>/img/IMG_<id>.tif "
            "(generate a toy dataset with `flair-kit toy-data`)"
        )
    mask_paths: dict[int, Path | None] = {}
    if masks is not None:
        found_masks = _index_kind(masks, "mask", "msk")
        _pair_masks(found, found_masks, masks)
        mask_paths = {t: m.path for t, m in found_masks.items()}
    return _attach(
        list(found.values()), mask_paths, sentinel=sentinel, centroids=centroids, metadata=metadata
    )


def _tail(path: PurePath) -> tuple[str, ...] | None:
    """The ``(DOMAIN, ZONE, leaf, name)`` tail of a dataset path, None outside the layout."""
    if domain_zone(Path(*path.parts)) is None:
        return None
    return tuple(path.parts[-4:])


def _index_tails(root: Path) -> dict[tuple[str, ...], list[Path]]:
    tails: dict[tuple[str, ...], list[Path]] = {}
    for path in walk_files(root):
        if tile_id(path.name, "image") is None and tile_id(path.name, "mask") is None:
            continue
        tail = _tail(path.relative_to(root))
        if tail is not None:
            tails.setdefault(tail, []).append(path)
    return tails


def _resolve(
    tails: dict[tuple[str, ...], list[Path]],
    wanted: Sequence[tuple[int, PurePath]],
    root: Path,
    csv: Path,
) -> dict[int, Path]:
    """Find each csv path under ``root`` by its ``DOMAIN/ZONE/leaf/name`` tail."""
    resolved: dict[int, Path] = {}
    missing: list[str] = []
    ambiguous: list[str] = []
    for line, listed in wanted:
        tail = _tail(listed)
        matches = tails.get(tail, []) if tail is not None else []
        if not matches:
            missing.append(f"line {line}: {'/'.join(tail) if tail else listed}")
        elif len(matches) > 1:
            ambiguous.append(f"line {line}: {', '.join(map(str, matches))}")
        else:
            resolved[line] = matches[0]
    if missing:
        raise MissingFileError(
            f"{csv}: {len(missing)} listed files not found under {root}: {summarize(missing)}; "
            "pass the folder that holds the dataset as root"
        )
    if ambiguous:
        raise DataError(
            f"{csv}: {len(ambiguous)} listed files match several files under {root}: "
            f"{summarize(ambiguous)}; pass a root that holds one copy of the dataset"
        )
    return resolved


def discover_csv(
    path_list: Path,
    *,
    root: Path | None = None,
    sentinel: Path | None = None,
    centroids: Path | None = None,
    metadata: Path | None = None,
) -> list[Sample]:
    """Find the samples listed in an official path csv (``image_path,mask_path`` rows).

    The csv's relative roots (``../data/flair_1_aerial_test/...``) rarely exist locally, so each
    path is found under ``root`` by its ``<DOMAIN>/<ZONE>/<img|msk>/<name>`` tail. On a tree and
    the csv listing it, this returns exactly what :func:`discover_tree` returns.

    Args:
        path_list: the csv.
        root: the folder searched for the listed files; defaults to the csv's folder.
        sentinel: the Sentinel-2 folder, FLAIR #2.
        centroids: ``flair-2_centroids_sp_to_patch.json``, FLAIR #2.
        metadata: the aerial metadata JSON.

    Returns:
        The samples sorted by id; ``mask`` is None for rows without a mask column.

    Raises:
        MissingFileError: the csv, a listed file or a Sentinel-2 triplet is missing.
        DataError: a malformed row, a path outside the layout, an id listed twice, a tail found
            twice under ``root``, and the JSON problems listed in the module docstring.
    """
    rows = read_path_list(path_list)
    if not rows:
        raise DataError(f"{path_list}: the path list is empty; expected image_path,mask_path rows")
    search = path_list.parent if root is None else root
    if not search.is_dir():
        raise MissingFileError(
            f"{search}: folder not found (the root searched for {path_list}'s files)"
        )
    outside = [f"line {r.line}: {r.image}" for r in rows if r.domain is None]
    outside += [
        f"line {r.line}: {r.mask}" for r in rows if r.mask is not None and _tail(r.mask) is None
    ]
    if outside:
        raise DataError(
            f"{path_list}: paths outside the dataset layout: {summarize(outside)}; expected "
            ".../<DOMAIN>/<ZONE>/<img|msk>/<name>"
        )
    crossed = [
        f"line {r.line}: {r.mask}"
        for r in rows
        if r.mask is not None and tuple(r.mask.parts[-4:-2]) != (r.domain, r.zone)
    ]
    if crossed:
        raise DataError(
            f"{path_list}: masks listed in another domain/zone than their image: "
            f"{summarize(crossed)}"
        )
    lines_by_tile: dict[int, list[int]] = {}
    for row in rows:
        lines_by_tile.setdefault(row.tile, []).append(row.line)
    repeated = [
        f"{format_id(t)} (lines {', '.join(map(str, ls))})"
        for t, ls in lines_by_tile.items()
        if len(ls) > 1
    ]
    if repeated:
        raise DataError(f"{path_list}: ids listed more than once: {summarize(repeated)}")
    tails = _index_tails(search)
    images = _resolve(tails, [(r.line, r.image) for r in rows], search, path_list)
    masks = _resolve(
        tails, [(r.line, r.mask) for r in rows if r.mask is not None], search, path_list
    )
    core = [_Located(r.tile, str(r.domain), str(r.zone), images[r.line]) for r in rows]
    mask_paths: dict[int, Path | None] = {r.tile: masks[r.line] for r in rows if r.mask is not None}
    return _attach(core, mask_paths, sentinel=sentinel, centroids=centroids, metadata=metadata)


def find_metadata(root: Path) -> Path | None:
    """Return the aerial metadata JSON at a dataset root under any of its known names, or None.

    Raises:
        DataError: more than one of the known names is present (which one is meant is unclear).
    """
    present = [root / name for name in METADATA_NAMES if (root / name).is_file()]
    if len(present) > 1:
        raise DataError(
            f"{root}: several aerial metadata files ({', '.join(p.name for p in present)}); keep one"
        )
    return present[0] if present else None


def find_split(root: Path, split: Split, *, dataset: Dataset = "flair1") -> list[Sample]:
    """Find the samples of one split in a dataset folder laid out with the official names.

    ``root`` holds ``flair_aerial_train``, ``flair_labels_train``, ``flair_1_aerial_test`` and
    ``flair_1_labels_test`` (FLAIR #1), or ``flair_aerial_train``, ``flair_labels_train``,
    ``flair_sen_train``, ``flair_2_aerial_test``, ``flair_2_sen_test``, ``flair_2_labels_test``
    and ``flair-2_centroids_sp_to_patch.json`` (FLAIR #2), plus optionally the aerial metadata
    JSON under one of :data:`METADATA_NAMES`. Train masks are required; test masks are used when
    their folder exists (``mask`` is None otherwise).

    Raises:
        ConfigError: an unknown dataset or split.
        MissingFileError: a required folder or the centroid file is missing.
        DataError: see :func:`discover_tree`.
    """
    folders = SPLIT_FOLDERS.get((dataset, split))
    if folders is None:
        raise ConfigError(
            f"unknown dataset/split {dataset!r}/{split!r}; expected flair1 or flair2, train or test"
        )
    if not root.is_dir():
        raise MissingFileError(
            f"{root}: dataset folder not found (make a toy one with `flair-kit toy-data {root}`)"
        )
    images = root / folders.images
    if not images.is_dir():
        raise MissingFileError(
            f"{images}: folder not found; a {dataset} dataset folder holds {folders.images}/ "
            f"(make a toy one with `flair-kit toy-data {root} --dataset {dataset}`)"
        )
    masks_folder = root / folders.masks
    masks: Path | None = masks_folder
    if not masks_folder.is_dir():
        if folders.masks_required:
            raise MissingFileError(f"{masks_folder}: folder not found; {split} masks are required")
        masks = None
    sentinel = centroids = None
    if folders.sentinel is not None:
        sentinel = root / folders.sentinel
        centroids = root / CENTROIDS_NAME
        if not centroids.is_file():
            raise MissingFileError(
                f"{centroids}: not found; FLAIR #2 needs the patch centroids in the super-areas "
                "(IGN ships it in flair_2_centroids_sp_to_patch.zip)"
            )
    return discover_tree(
        images,
        masks=masks,
        sentinel=sentinel,
        centroids=centroids,
        metadata=find_metadata(root),
        require_masks=folders.masks_required,
    )


def domains(samples: Sequence[Sample]) -> list[str]:
    """The sorted distinct domains of some samples.

    >>> s = Sample(1, "D012_2019", "Z1_UU", Path("IMG_000001.tif"), None)
    >>> domains([s, s])
    ['D012_2019']
    """
    return sorted({s.domain for s in samples})
