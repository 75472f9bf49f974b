"""Scoring pipeline: matched files -> validated arrays -> per-image metric rows -> means -> Score.

A worker thread decodes each image and computes its numpy/cv2 metrics (and report thumbnails)
ahead of the main thread, which runs only the LPIPS forward: cv2 and numpy release the GIL, so
that work fills the gaps of torch's parallel convolutions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .device import pick_device
from .discovery import INPUT_DIR, ImageCase, find_predictions, find_reference, match_cases
from .errors import ReferenceDataError, SubmissionError
from .forensics import Screening, screen
from .formula import ScoreBreakdown, compute_score
from .images import IMAGE_SUFFIXES, declared_size, read_person_mask, read_rgb, read_rgb_reduced
from .metrics.deltae import person_delta_e
from .metrics.lpips import LpipsAlex, person_lpips
from .metrics.psnr import background_psnr
from .metrics.ssim import global_ssim
from .previews import PREVIEW_SIZE, ImagePreview, make_preview
from .profile import SCORED_METRICS, Profile

PREFETCH = 24  # ~130 MB of decoded 1K images; the first ones are prepared during start-up


@dataclass(frozen=True)
class LoadedCase:
    """One image's validated arrays."""

    case: ImageCase
    result: np.ndarray
    gt: np.ndarray
    person: np.ndarray
    note: str


@dataclass(frozen=True)
class ScoringResult:
    per_image: pd.DataFrame
    breakdown: ScoreBreakdown
    extra_means: dict[str, float]
    notes: list[str]
    device: str  # what LPIPS ran on
    previews: dict[str, ImagePreview] = field(default_factory=dict)  # report thumbnails by stem


def _size(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]}"


def load_case(case: ImageCase) -> LoadedCase:
    """Decode and cross-check one image's result, ground truth and person mask."""
    gt, _ = read_rgb(case.gt_path, error=ReferenceDataError)
    person = read_person_mask(case.mask_path)
    if person.shape != gt.shape[:2]:
        raise ReferenceDataError(
            f"{case.mask_path}: mask is {_size(person)} but its ground truth {case.gt_path.name} is "
            f"{_size(gt)}; masks must match their image exactly."
        )
    if not person.any():
        raise ReferenceDataError(
            f"{case.mask_path}: mask has no person pixel (all values < 128); fix the reference data."
        )
    # The header first: a result of the wrong size is refused before a pixel of it is decoded.
    declared = declared_size(case.prediction_path, error=SubmissionError)
    shape = declared.displayed if declared is not None else None
    if shape is None or shape == gt.shape[:2]:
        result, note = read_rgb(case.prediction_path, error=SubmissionError)
        shape = result.shape[:2]
    if shape != gt.shape[:2]:
        why = declared.orientation_note() if declared is not None else ""
        raise SubmissionError(
            f"{case.prediction_path.name}: result for image {case.stem} is {shape[1]}x{shape[0]} (WxH) "
            f"but its ground truth is {_size(gt)}; "
            + (f"{why}." if why and (declared.height, declared.width) == gt.shape[:2] else
               "results must keep the input's exact resolution (no rescaling).")
        )
    return LoadedCase(case, result, gt, person, note)


def pixel_metrics(loaded: LoadedCase, profile: Profile) -> dict:
    """Every metric but LPIPS (numpy/cv2, GIL released): computed beside the LPIPS forward."""
    result, gt, person = loaded.result, loaded.gt, loaded.person
    row = {
        "DeltaE_person": person_delta_e(result, gt, person),
        "PSNR_bg": background_psnr(result, gt, person),
        "SSIM_global": global_ssim(result, gt),
    }
    if "CIEDE2000_person" in profile.extra_metrics:
        from .metrics.ciede2000 import person_ciede2000

        row["CIEDE2000_person"] = person_ciede2000(result, gt, person)
    return row


@dataclass(frozen=True)
class PreparedCase:
    """One image decoded, with its pixel metrics and (optionally) report thumbnails."""

    loaded: LoadedCase
    metrics: dict
    preview: ImagePreview | None


def prepare_case(case: ImageCase, profile: Profile, with_preview: bool) -> PreparedCase:
    loaded = load_case(case)
    metrics = pixel_metrics(loaded, profile)
    # With the input at hand (input/ beside gt/), screen the result for a resampling trace; the
    # input is decoded once, for the check and the report's thumbnail.
    source = _read_input(loaded)
    if source is not None:
        metrics.update(rescale_columns(screen(loaded.result, source, loaded.person, profile.forensics)))
    return PreparedCase(loaded, metrics, preview(loaded, source) if with_preview else None)


def rescale_columns(screening: Screening) -> dict:
    """The content check's per-image columns: verdict, measures, reasons."""
    return {"rescale_verdict": screening.verdict, **screening.measures,
            "rescale_reasons": "; ".join(screening.reasons)}


def _read_input(loaded: LoadedCase) -> np.ndarray | None:
    path = _input_path(loaded.case)
    if path is None:
        return None
    source, _ = read_rgb(path, error=ReferenceDataError)
    if source.shape != loaded.gt.shape:
        raise ReferenceDataError(f"{path}: input is {_size(source)} but its ground truth "
                                 f"{loaded.case.gt_path.name} is {_size(loaded.gt)}; fix the reference data.")
    return source


def _prepared(cases: list[ImageCase], profile: Profile, with_preview: bool) -> Iterator[PreparedCase]:
    """Cases prepared in a worker thread, PREFETCH ahead of the caller (which runs LPIPS). The
    first ones start at once, so they overlap with loading the LPIPS model."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare")
    pending = [pool.submit(prepare_case, c, profile, with_preview) for c in cases[:PREFETCH]]

    def stream() -> Iterator[PreparedCase]:
        try:
            for index in range(len(cases)):
                prepared = pending.pop(0).result()
                if index + PREFETCH < len(cases):
                    pending.append(pool.submit(prepare_case, cases[index + PREFETCH], profile,
                                               with_preview))
                yield prepared
        finally:
            for job in pending:
                job.cancel()
            pool.shutdown(wait=True)

    return stream()


def _with_progress(items: Iterator[LoadedCase], total: int, progress: str | None):
    """A tqdm bar on a terminal; in logs (Codabench) a plain line every 10%; nothing if None."""
    if progress == "bar":
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc="scoring", unit="img", leave=False)
        return
    step = max(1, total // 10)
    for done, item in enumerate(items, start=1):
        yield item
        if progress == "lines" and (done % step == 0 or done == total):
            print(f"scored {done}/{total} images", flush=True)


def _input_path(case: ImageCase) -> Path | None:
    """The low-light input of a case when an ``input/`` folder sits beside ``gt/`` (the sample
    data; a phase's reference data built with its public inputs)."""
    folder = case.gt_path.parent.parent / INPUT_DIR
    return next((folder / f"{case.stem}{s}" for s in IMAGE_SUFFIXES
                 if (folder / f"{case.stem}{s}").is_file()), None)


def preview(loaded: LoadedCase, source: np.ndarray | None = None) -> ImagePreview:
    """Report thumbnails of one image (GT, result, error heat map, input if at hand). The input,
    when not already decoded, is read at reduced size: it only illustrates the report."""
    if source is None:
        path = _input_path(loaded.case)
        source = None if path is None else read_rgb_reduced(path, PREVIEW_SIZE)
    return make_preview(loaded.result, loaded.gt, loaded.person, source)


def _lpips_lanes(device: str) -> int:
    """How many LPIPS forwards run at once. On CPU, two images each on half the cores beat one
    image on all of them: torch's parallel regions wait for their slowest thread, so any other
    work on a core (decoding, the pixel metrics) stalls them all; independent forwards do not."""
    import torch

    if device != "cpu" or (os.cpu_count() or 1) < 2:
        return 1
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    return 2


def measure_cases(cases: list[ImageCase], profile: Profile, device: str | None,
                  progress: str | None = None,
                  previews: dict[str, ImagePreview] | None = None) -> tuple[pd.DataFrame, str]:
    """Per-image metric rows (one per case, in order) as a DataFrame, and the device LPIPS ran on
    (``device`` None: CUDA if available, else CPU).

    ``progress``: "bar" (terminal), "lines" (log files) or None. With ``previews``, each image's
    report thumbnails are added to it, by stem.
    """
    stream = _prepared(cases, profile, previews is not None)
    device = pick_device(device)  # imports torch: while the first images are being prepared
    lpips_model = LpipsAlex(device)
    lanes = _lpips_lanes(device)

    def row(prepared: PreparedCase) -> dict:
        loaded = prepared.loaded
        return {
            "image": loaded.case.stem,
            "result_file": loaded.case.prediction_path.name,
            "width": loaded.gt.shape[1],
            "height": loaded.gt.shape[0],
            "person_fraction": float(loaded.person.mean()),
            "LPIPS_person": person_lpips(lpips_model, loaded.result, loaded.gt, loaded.person,
                                         profile.lpips_box_margin, loaded.case.mask_path.name),
            **prepared.metrics,
            "note": loaded.note,
        }

    rows = []
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="lpips") as pool:
        in_flight: list = []
        for prepared in _with_progress(stream, len(cases), progress):
            in_flight.append(pool.submit(row, prepared))
            if prepared.preview is not None:
                previews[prepared.loaded.case.stem] = prepared.preview
            if len(in_flight) >= lanes:
                rows.append(in_flight.pop(0).result())
        rows.extend(job.result() for job in in_flight)
    return pd.DataFrame(rows).astype({k: float for k in SCORED_METRICS}), device


def metric_means(per_image: pd.DataFrame, keys: tuple[str, ...]) -> dict[str, float]:
    """Mean of each metric over the images where it is defined (spec §3)."""
    means = {}
    for key in keys:
        values = per_image[key].astype(float)
        if values.notna().sum() == 0:
            raise ReferenceDataError(
                f"{key} is undefined for every image (every person mask covers the whole frame); "
                f"fix the reference masks."
            )
        means[key] = float(values.mean(skipna=True))
    return means


def score_submission(reference_dir: Path, prediction_dir: Path, profile: Profile, device: str | None,
                     progress: str | None = None,
                     failed_in_ingestion: dict[str, str] | None = None) -> ScoringResult:
    """Score a folder of results against reference data; raises AiflashError on bad input."""
    cases = match_cases(find_reference(reference_dir), find_predictions(prediction_dir),
                        failed_in_ingestion)
    previews: dict[str, ImagePreview] = {}
    per_image, device = measure_cases(cases, profile, device, progress, previews)
    breakdown = compute_score(metric_means(per_image, SCORED_METRICS), profile)
    extra = metric_means(per_image, profile.extra_metrics) if profile.extra_metrics else {}
    notes = [f"{row.result_file}: {row.note}" for row in per_image.itertuples() if row.note]
    return ScoringResult(per_image, breakdown, extra, notes, device, previews)
