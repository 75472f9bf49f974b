"""A phase's data from an organiser's dataset folders, checked before anything is packed.

Source layouts accepted (the first is how the data is released):

* ``input/``, ``gt/``, ``mask_personmask/`` side by side;
* a packed phase folder written by :func:`pack` (``input_data/`` and ``reference_data/``).

What Codabench receives (codabench.md §6): ``reference_data`` = gt + masks, mounted only in the
scoring job; ``input_data`` = inputs + masks, mounted only in the prediction job (the model needs
the person mask; the scorer has no ``/app/input_data``, so it needs its own copy of the masks).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..discovery import GT_DIR, IGNORED_DIRS, IGNORED_NAMES, INPUT_DIR, MASK_DIR, find_predictions
from ..errors import AiflashError, ReferenceDataError
from ..images import is_image_name, read_person_mask, read_rgb

REFERENCE = "reference_data"
INPUTS = "input_data"
DEV = "dev_data"  # a public development split: inputs, ground truth and masks
KIND_FOLDERS = {REFERENCE: (GT_DIR, MASK_DIR), INPUTS: (INPUT_DIR, MASK_DIR),
                DEV: (INPUT_DIR, GT_DIR, MASK_DIR)}
MANIFEST = "manifest.json"
_SHOW = 6


@dataclass(frozen=True)
class PhaseImage:
    """One image of a phase: its stem, size and its file in each of input/, gt/, mask_personmask/."""

    stem: str
    width: int
    height: int
    files: dict[str, Path]


@dataclass(frozen=True)
class PhaseData:
    source: Path
    images: tuple[PhaseImage, ...]

    @property
    def has_gt(self) -> bool:
        return bool(self.images) and GT_DIR in self.images[0].files

    @property
    def stems(self) -> list[str]:
        return [image.stem for image in self.images]


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _folders(source: Path, require_gt: bool) -> dict[str, Path]:
    """input/gt/mask folders of either layout; a missing required one raises."""
    if (source / INPUTS).is_dir() or (source / REFERENCE).is_dir():
        candidates = {INPUT_DIR: source / INPUTS / INPUT_DIR, GT_DIR: source / REFERENCE / GT_DIR,
                      MASK_DIR: source / REFERENCE / MASK_DIR}
        if not candidates[MASK_DIR].is_dir():
            candidates[MASK_DIR] = source / INPUTS / MASK_DIR
    else:
        candidates = {name: source / name for name in (INPUT_DIR, GT_DIR, MASK_DIR)}
    needed = (INPUT_DIR, GT_DIR, MASK_DIR) if require_gt else (INPUT_DIR, MASK_DIR)
    missing = [str(candidates[name]) for name in needed if not candidates[name].is_dir()]
    if missing:
        raise ReferenceDataError(
            f"{source}: folder(s) not found: {', '.join(missing)}; a phase's data holds "
            f"{INPUT_DIR}/, {GT_DIR}/ and {MASK_DIR}/ (as released) or {INPUTS}/ and {REFERENCE}/."
        )
    return {name: path for name, path in candidates.items() if path.is_dir()}


def _shortlist(items: list[str]) -> str:
    return ", ".join(items[:_SHOW]) + (", ..." if len(items) > _SHOW else "")


def _list_folder(folder: Path, problems: list[str]) -> dict[str, Path]:
    found = find_predictions(folder)
    for stem, paths in sorted(found.items()):
        if len(paths) > 1:
            problems.append(f"{folder.name}/: {stem} exists as {' and '.join(p.name for p in paths)}")
    unexpected = sorted(p.name for p in folder.iterdir()
                        if not p.name.startswith(".") and p.name not in IGNORED_NAMES
                        and p.name not in IGNORED_DIRS and not (p.is_file() and is_image_name(p.name)))
    if unexpected:
        problems.append(f"{folder.name}/: unexpected entries {_shortlist(unexpected)} "
                        f"(only images belong here)")
    return {stem: paths[0] for stem, paths in found.items()}


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"


def _read(stem: str, files: dict[str, Path], problems: list[str]) -> tuple[int, int] | None:
    """Decode the image's files; (width, height) if readable and consistent."""
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        for name, path in files.items():
            if name == MASK_DIR:
                person = read_person_mask(path)
                if not person.any():
                    problems.append(f"{path}: mask has no person pixel")
                shapes[name] = person.shape
            else:
                shapes[name] = read_rgb(path, error=ReferenceDataError)[0].shape[:2]
    except AiflashError as exc:
        problems.append(str(exc).rstrip("."))
        return None
    if len(set(shapes.values())) > 1:
        detail = ", ".join(f"{name} {_size(shape)}" for name, shape in shapes.items())
        problems.append(f"{stem}: sizes differ ({detail}); input, gt and mask must match exactly")
        return None
    height, width = next(iter(shapes.values()))
    return width, height


def scan(source: Path, require_gt: bool = True) -> PhaseData:
    """Check and describe a phase's data; every problem is reported in one ReferenceDataError."""
    if not source.is_dir():
        raise ReferenceDataError(f"{source}: data folder not found.")
    problems: list[str] = []
    listed = {name: _list_folder(folder, problems) for name, folder in _folders(source, require_gt).items()}
    stems = sorted(set().union(*(set(files) for files in listed.values())))
    if not stems:
        raise ReferenceDataError(f"{source / INPUT_DIR}: no images found (.png/.jpg/.jpeg/.bmp).")
    for name, files in listed.items():
        missing = [s for s in stems if s not in files]
        if missing:
            problems.append(f"{name}/ lacks {len(missing)} stem(s) the other folders have: "
                            f"{_shortlist(missing)}")
    images = []
    for stem in stems:
        if not all(stem in files for files in listed.values()):
            continue
        files = {name: table[stem] for name, table in listed.items()}
        size = _read(stem, files, problems)
        if size:
            images.append(PhaseImage(stem, size[0], size[1], files))
    if problems:
        raise ReferenceDataError(
            f"{source}: {len(problems)} problem(s) in the phase data: " + "; ".join(problems[:_SHOW])
            + ("; ..." if len(problems) > _SHOW else "") + ". Fix the files and run again."
        )
    return PhaseData(source, tuple(images))


def split(data: PhaseData, count: int, seed: int) -> PhaseData:
    """A seeded random subset of ``count`` images (kept in stem order), e.g. a public dev split."""
    if not 1 <= count <= len(data.images):
        raise ReferenceDataError(
            f"--public-split {count}: must be between 1 and the {len(data.images)} images of {data.source}."
        )
    chosen = set(random.Random(seed).sample(data.stems, count))
    return PhaseData(data.source, tuple(image for image in data.images if image.stem in chosen))


def pack(data: PhaseData, out: Path, kinds: tuple[str, ...] = (REFERENCE, INPUTS),
         inputs_in_reference: bool = False) -> dict[str, dict]:
    """Copy the files (bit-exact) into ``out/<kind>/<folder>/``; returns {relative path: sha256, bytes}.

    ``inputs_in_reference``: reference_data also gets ``input/`` (a result phase, whose inputs are
    public), so the scoring program screens each result against its input for a resampling trace.
    """
    written: dict[str, dict] = {}
    for kind in kinds:
        folders = KIND_FOLDERS[kind]
        if kind == REFERENCE and inputs_in_reference:
            folders = (*folders, INPUT_DIR)
        for folder in folders:
            if folder not in data.images[0].files:
                raise ReferenceDataError(f"{data.source}: no {folder}/ folder, which {kind} needs.")
            target = out / kind / folder
            target.mkdir(parents=True, exist_ok=True)
            for image in data.images:
                source = image.files[folder]
                shutil.copyfile(source, target / source.name)
                rel = (target / source.name).relative_to(out).as_posix()
                written[rel] = {"sha256": sha256_file(source), "bytes": source.stat().st_size}
    return written


def image_table(data: PhaseData) -> list[dict]:
    return [{"stem": i.stem, "width": i.width, "height": i.height} for i in data.images]


def write_phase(data: PhaseData, out: Path, kinds: tuple[str, ...], note: dict | None = None) -> Path:
    """``aiflash data``: pack a phase into an empty folder with a manifest.json beside the data."""
    if out.exists() and any(out.iterdir()):
        raise ReferenceDataError(f"{out}: folder is not empty; give a new or empty --output folder.")
    files = pack(data, out, kinds)
    manifest = {"source": data.source.name, **(note or {}), "images": image_table(data), "files": files}
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path
