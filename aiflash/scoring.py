"""Scoring pipeline: matched files -> validated arrays -> per-image metric rows -> means -> Score.

Images are scored in lanes, one worker thread per usable CPU (``device.scoring_plan``): a lane
decodes an image, computes its numpy/cv2 metrics and runs its single-threaded LPIPS forward
(ONNX Runtime with ncnn's 3x3 convolutions on the CPU, torch on CUDA); cv2, numpy and all three
runtimes release the GIL. The first images are prepared while the LPIPS model loads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .device import ScoringPlan, cpu_layout, pick_device, scoring_plan
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


def _with_progress(items: Iterable, total: int, progress: str | None):
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


@contextmanager
def _thread_pools(cv2_threads: int) -> Iterator[Callable[[int], None]]:
    """OpenCV's thread pool sized for the lanes at once, torch's through the function yielded
    (called only when LPIPS runs on torch, which is imported later, while the first images are
    prepared); both restored afterwards, being process-wide."""
    import cv2

    saved_cv2, saved_torch = cv2.getNumThreads(), None

    def set_torch_threads(threads: int) -> None:
        import torch

        nonlocal saved_torch
        saved_torch = torch.get_num_threads()
        torch.set_num_threads(threads)

    cv2.setNumThreads(cv2_threads)
    try:
        yield set_torch_threads
    finally:
        cv2.setNumThreads(saved_cv2)
        if saved_torch is not None:
            import torch

            torch.set_num_threads(saved_torch)


def measure_cases(cases: list[ImageCase], profile: Profile, device: str | None,
                  progress: str | None = None,
                  previews: dict[str, ImagePreview] | None = None,
                  plan: ScoringPlan | None = None) -> tuple[pd.DataFrame, str]:
    """Per-image metric rows (one per case, in order) as a DataFrame, and the device LPIPS ran on
    (``device`` None: CUDA if available, else CPU).

    ``progress``: "bar" (terminal), "lines" (log files) or None. With ``previews``, each image's
    report thumbnails are added to it, by stem. ``plan`` None: chosen from this machine.
    """
    layout = cpu_layout()
    # The lanes are sized before torch is imported; on CUDA the same lanes overlap the CPU work
    # of several images with the GPU's (the plan differs only in torch threads there).
    chosen = plan
    plan = chosen or scoring_plan(layout, "cpu")
    with_preview = previews is not None
    rows = []
    with _thread_pools(plan.torch_threads) as set_torch_threads, \
            ThreadPoolExecutor(max_workers=plan.lanes, thread_name_prefix="score") as pool:
        early = [pool.submit(prepare_case, case, profile, with_preview)
                 for case in cases[:plan.prefetch]]
        try:
            device = pick_device(device)  # imports torch unless no GPU can be present
            threads = (chosen or scoring_plan(layout, device)).torch_threads
            lpips_model = LpipsAlex(device, threads=threads)
            if lpips_model.runtime == "torch":
                set_torch_threads(threads)
            if progress:  # the log says what computed the numbers (a reproduction compares it)
                print(f"LPIPS-Alex on {device} ({lpips_model.runtime}); {plan.lanes} lane(s) x "
                      f"{threads} thread(s)", flush=True)

            def row(prepared: PreparedCase | Future) -> tuple[dict, ImagePreview | None]:
                prepared = prepared.result() if isinstance(prepared, Future) else prepared
                loaded = prepared.loaded
                return {
                    "image": loaded.case.stem,
                    "result_file": loaded.case.prediction_path.name,
                    "width": loaded.gt.shape[1],
                    "height": loaded.gt.shape[0],
                    "person_fraction": float(loaded.person.mean()),
                    "LPIPS_person": person_lpips(lpips_model, loaded.result, loaded.gt,
                                                 loaded.person, profile.lpips_box_margin,
                                                 loaded.case.mask_path.name),
                    **prepared.metrics,
                    "note": loaded.note,
                }, prepared.preview

            def whole(case: ImageCase) -> tuple[dict, ImagePreview | None]:
                return row(prepare_case(case, profile, with_preview))

            # FIFO: each early preparation is taken by a worker before its LPIPS job is, so no
            # worker waits on a job still queued; every later job holds one image, start to end.
            jobs = [pool.submit(row, job) for job in early]
            jobs += [pool.submit(whole, case) for case in cases[len(early):]]
            for job in _with_progress(jobs, len(cases), progress):
                values, preview = job.result()
                rows.append(values)
                if preview is not None:
                    previews[values["image"]] = preview
        finally:  # on an error, drop the queued images; the running ones end with the pool
            pool.shutdown(wait=False, cancel_futures=True)
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
