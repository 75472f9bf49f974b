"""Finding the files of a scoring run: reference images, masks and a submission's results.

Predictions are matched to ground truth by the whole file stem (``0001.png`` for ``gt/0001.jpg``),
never by a digit pattern (spec §5: the published scorer's 3-digit IDs broke on 4-digit names).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .errors import ReferenceDataError, SubmissionError
from .images import is_image_name

GT_DIR = "gt"
MASK_DIR = "mask_personmask"
INPUT_DIR = "input"
# Files Codabench, macOS or our own ingestion put beside results; never treated as results.
IGNORED_NAMES = {"metadata", "metadata.json", "metadata.yaml", "ingestion.json", ".DS_Store",
                 "Thumbs.db", "desktop.ini"}
IGNORED_DIRS = {"__MACOSX"}
# Written by the bundle builder into a code phase's reference data: results must come from the
# ingestion program there, never from an uploaded result zip.
PHASE_RULES_FILE = "phase.json"
_SHOW = 5


@dataclass(frozen=True)
class ImageCase:
    """One image to score: its name and the three files that describe it."""

    stem: str
    gt_path: Path
    mask_path: Path
    prediction_path: Path


def _is_junk(path: Path) -> bool:
    return path.name in IGNORED_NAMES or path.name.startswith("._") or path.name in IGNORED_DIRS


def _visible_entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not _is_junk(p) and not p.name.startswith("."))


def _images_by_stem(folder: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = defaultdict(list)
    for path in _visible_entries(folder):
        if path.is_file() and is_image_name(path.name):
            found[path.stem].append(path)
    return found


def _shortlist(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (", ..." if len(items) > _SHOW else "")


def _pair_with_masks(root: Path, image_sub: str, kind: str, dataset: str) -> dict[str, tuple[Path, Path]]:
    """Map each stem of ``root/image_sub`` to its (image, person mask) files; organiser-data errors
    raise. ``kind`` names the images ("ground-truth"), ``dataset`` the task's data ("reference_data")."""
    image_dir, mask_dir = root / image_sub, root / MASK_DIR
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise ReferenceDataError(
                f"{folder}: folder not found; the {dataset.replace('_', ' ')} must hold {image_sub}/ and "
                f"{MASK_DIR}/ (check the task's {dataset})."
            )
    images, masks = _images_by_stem(image_dir), _images_by_stem(mask_dir)
    if not images:
        raise ReferenceDataError(f"{image_dir}: no {kind} images (.png/.jpg/.jpeg/.bmp) found.")
    for what, table in ((kind, images), ("mask", masks)):
        dups = sorted(s for s, paths in table.items() if len(paths) > 1)
        if dups:
            raise ReferenceDataError(
                f"{what} images with the same stem in two formats: {_shortlist(dups)}; keep one each."
            )
    missing = sorted(set(images) - set(masks))
    if missing:
        raise ReferenceDataError(
            f"{mask_dir}: no person mask for {len(missing)} {kind} image(s): "
            f"{_shortlist(missing)}; every {image_sub}/<stem> needs {MASK_DIR}/<stem>.png."
        )
    return {stem: (images[stem][0], masks[stem][0]) for stem in sorted(images)}


def find_reference(reference_dir: Path) -> dict[str, tuple[Path, Path]]:
    """Map each ground-truth stem to its (gt, person mask) files; organiser-data errors raise."""
    return _pair_with_masks(reference_dir, GT_DIR, "ground-truth", "reference_data")


def find_inputs(input_dir: Path) -> dict[str, tuple[Path, Path]]:
    """Map each input stem to its (input image, person mask) files (a code phase's input_data);
    organiser-data errors raise."""
    return _pair_with_masks(input_dir, INPUT_DIR, "input", "input_data")


def find_code_root(submission_dir: Path, marker: str) -> Path | None:
    """The folder of a code submission holding ``marker`` (e.g. model.py): the submission folder
    itself or, for a zip made of a folder, the single folder wrapping everything; None if absent."""
    if (submission_dir / marker).is_file():
        return submission_dir
    if not submission_dir.is_dir():
        return None
    entries = _visible_entries(submission_dir)
    if len(entries) == 1 and entries[0].is_dir():
        return find_code_root(entries[0], marker)
    return None


def requires_code_submission(reference_dir: Path) -> bool:
    """Whether the reference data belongs to a code phase (see PHASE_RULES_FILE)."""
    path = reference_dir / PHASE_RULES_FILE
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("submissions") == "code"
    except (ValueError, AttributeError) as exc:
        raise ReferenceDataError(f"{path}: not a valid phase rules file ({exc}); rebuild the bundle.") \
            from exc


def submission_root(prediction_dir: Path) -> Path:
    """The folder that holds the results, descending through single wrapping folders."""
    if not prediction_dir.is_dir():
        raise SubmissionError(f"{prediction_dir}: prediction folder not found.")
    root = prediction_dir
    while True:
        entries = _visible_entries(root)
        _refuse_links(entries)
        dirs = [p for p in entries if p.is_dir()]
        has_images = any(p.is_file() and is_image_name(p.name) for p in entries)
        if len(dirs) == 1 and not has_images:
            root = dirs[0]
            continue
        return root


def _refuse_links(entries: list[Path]) -> None:
    """A result that is a symbolic link could point at the ground truth (a perfect score on a local
    run): refused by name. Codabench's own unzip never creates links, so no honest result is one."""
    for path in entries:
        if path.is_symlink():
            raise SubmissionError(
                f"{path.name}: is a symbolic link, not a file; results must be real image files: copy "
                f"the image instead of linking it."
            )


def find_predictions(prediction_dir: Path) -> dict[str, list[Path]]:
    """Result images by stem (a stem may map to several files: reported as duplicates later).
    Symbolic links among the results are refused by name."""
    return dict(_images_by_stem(submission_root(prediction_dir)))


def match_cases(
    reference: dict[str, tuple[Path, Path]], predictions: dict[str, list[Path]],
    failed_in_ingestion: dict[str, str] | None = None,
) -> list[ImageCase]:
    """Pair every ground-truth image with exactly one result, or raise one error listing all
    missing, extra and duplicated stems with their counts.

    ``failed_in_ingestion`` maps stems the ingestion program could not produce to the model's
    error, so those are reported with that reason rather than as "missing".
    """
    failed = failed_in_ingestion or {}
    if not predictions and not failed:
        example = next(iter(reference), "0001")
        raise SubmissionError(
            f"the submission holds no result images: a result zip must hold one PNG per ground-truth "
            f"image ({len(reference)} here, e.g. {example}.png) at its root (or in one folder). Zip "
            f"the images themselves, not the folder they are in, and check the zip is not empty."
        )
    missing = sorted(set(reference) - set(predictions))
    failed_here = [s for s in missing if s in failed]
    missing = [s for s in missing if s not in failed]
    extra = sorted(p.name for s, paths in predictions.items() if s not in reference for p in paths)
    dups = sorted(s for s, paths in predictions.items() if s in reference and len(paths) > 1)
    problems = []
    if failed_here:
        first = failed_here[0]
        problems.append(
            f"{len(failed_here)} image(s) failed in the model run ({_shortlist(failed_here)}); "
            f"{first}: {failed[first]}"
        )
    if missing:
        problems.append(f"{len(missing)} missing ({_shortlist(missing)})")
    if extra:
        problems.append(f"{len(extra)} extra ({_shortlist(extra)})")
    if dups:
        detail = "; ".join(
            f"{s}: {' and '.join(p.name for p in predictions[s])}" for s in dups[:_SHOW]
        )
        problems.append(f"{len(dups)} duplicated stem(s) ({detail})")
    if problems:
        example = next(iter(reference))
        only_model_failures = bool(failed_here) and len(problems) == 1
        fix = ("Fix the model (the ingestion log and ingestion.json have the details) and resubmit."
               if only_model_failures else
               f"Submit exactly one image per ground-truth name (e.g. {example}.png) at the zip root.")
        raise SubmissionError(
            f"results do not match the {len(reference)} ground-truth images: "
            + "; ".join(problems) + f". {fix}"
        )
    return [
        ImageCase(stem, gt, mask, predictions[stem][0]) for stem, (gt, mask) in reference.items()
    ]
