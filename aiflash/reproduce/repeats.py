"""Determinism and timing over ``--repeat N`` runs of one team's ingestion.

Each run starts from a fresh copy of the submission and writes its own prediction folder; run 1
is the one scored. Per image: the largest difference between run 1 and any other run (PSNR and
max |difference|, the same comparison as the online outputs), and the model's time (median and
spread, max - min, over the runs). Per run: what the ingestion program recorded of the machine
(GPU name, NVIDIA driver, CUDA version of the torch build, peak GPU memory) and the model's
parameter count. What a run could not know (no GPU: no driver, no peak GPU memory) stays None:
the report says "absent", never a guess.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from ..ingestion.record import read_ingestion
from ..profile import OutputConsistency
from .consistency import DIFFERENT, IDENTICAL, compare_outputs

RUN_FACTS = ("device", "gpu_name", "driver", "cuda", "model_parameters", "peak_gpu_memory_mb")


def run_facts(predictions: Path) -> dict:
    """One run's machine facts and per-image model times, from its ingestion.json."""
    summary = read_ingestion(predictions)
    record = summary.record if summary else {}
    environment = record.get("environment") or {}
    facts = {key: environment.get(key) for key in RUN_FACTS[:-1]}
    if not str(facts["device"] or "").startswith("cuda"):
        facts["cuda"] = None  # the torch build's CUDA version says nothing about a CPU run
    facts["peak_gpu_memory_mb"] = record.get("peak_gpu_memory_mb")
    facts["times"] = {str(e["image"]): e.get("model_s") for e in record.get("images", [])
                      if isinstance(e, dict) and "image" in e and e.get("status") == "ok"}
    return facts


def summarise(team: str, outputs: list[Path], rules: OutputConsistency) -> dict:
    """The JSON-ready determinism record of a team's runs (``outputs[0]`` is run 1)."""
    runs = [run_facts(folder) for folder in outputs]
    worst: dict[str, dict] = {}
    for other in outputs[1:]:
        for row in compare_outputs(team, outputs[0], other, rules).images:
            kept = worst.get(row.image)
            if kept is None or row.rank < kept["_rank"]:
                worst[row.image] = {"_rank": row.rank, "verdict": row.verdict, "psnr_db": row.psnr_db,
                                    "max_abs_diff": row.max_abs_diff, "note": row.note}
    images = []
    for image in sorted(set(runs[0]["times"]) | set(worst)):
        times = [t for t in (r["times"].get(image) for r in runs) if isinstance(t, (int, float))]
        row = worst.get(image, {})
        images.append({
            "image": image,
            "verdict": row.get("verdict", IDENTICAL) if len(outputs) > 1 else None,
            "min_psnr_db": row.get("psnr_db"), "max_abs_diff": row.get("max_abs_diff"),
            "note": row.get("note", ""),
            "time_median_s": round(statistics.median(times), 4) if times else None,
            "time_spread_s": round(max(times) - min(times), 4) if len(times) > 1 else None,
        })
    diffs = [i["max_abs_diff"] for i in images if i["max_abs_diff"] is not None]
    parameters = next((r["model_parameters"] for r in runs if r["model_parameters"] is not None), None)
    peaks = [r["peak_gpu_memory_mb"] for r in runs if r["peak_gpu_memory_mb"] is not None]
    return {
        "runs": len(outputs),
        "per_run": [{k: v for k, v in r.items() if k != "times"} for r in runs],
        "images": images,
        "nondeterministic_images": sum(i["verdict"] not in (None, IDENTICAL) for i in images),
        "different_images": sum(i["verdict"] == DIFFERENT for i in images),
        "max_abs_diff": max(diffs) if diffs else (0 if len(outputs) > 1 else None),
        "model_parameters": parameters,
        "peak_gpu_memory_mb": max(peaks) if peaks else None,
    }
