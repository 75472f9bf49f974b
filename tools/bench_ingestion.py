#!/usr/bin/env python3
"""Benchmark: what the ingestion program costs around a model, per 1K image (target <= 60 ms).

Runs ``ingestion_program/ingestion.py`` exactly as Codabench does (a fresh process, the three
folders as options) with the identity sample submission on ``--images`` 1K inputs (the sample
inputs, 1024x768 and 768x1024 JPEGs with masks, repeated under new names), then reads its
``ingestion.json``. Reported:

- per-image overhead: (run time after the model is loaded - model time) / images: decoding the
  input and mask, the guard, passing the result back, the lossless PNG write, the content check
  (in the PNG writer threads, beside the model), the record;
- the content check's own cost per image (``content_check_s``: decoding the input and mask again
  and ``aiflash.forensics.screen``, in a writer thread), and the overhead beyond it;
- fixed start-up: starting the model process (interpreter, torch, the audit's patches) and loading
  the model, paid once per run (again after a hang or crash);
- the whole process's wall time per image, start-up included;
- the resolution probe's cost (``aiflash.probe``) for each sample model at the profile's default
  count: its extra model calls, their model time and its wall time per run, against the model's
  own time on the scored images (target <= 15%).

    python tools/bench_ingestion.py [--images 100] [--device cpu] [--models identity flash_baseline ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "reference_data" / "sample"
TARGET_MS = 60.0
PROBE_TARGET = 0.15  # the probe's wall time over the model's own time on the scored images
SAMPLE_MODELS = ("identity", "flash_baseline", "tiny_cnn", "folder_api")


def make_inputs(root: Path, count: int) -> Path:
    inputs = sorted((SAMPLE / "input").iterdir())
    masks = {p.stem: p for p in (SAMPLE / "mask_personmask").iterdir()}
    for sub in ("input", "mask_personmask"):
        (root / sub).mkdir(parents=True)
    for index in range(count):
        source = inputs[index % len(inputs)]
        stem = f"{index + 1:04d}"
        shutil.copy(source, root / "input" / f"{stem}{source.suffix}")
        shutil.copy(masks[source.stem], root / "mask_personmask" / f"{stem}.png")
    return root


def run_model(inputs: Path, output: Path, model: str, device: str | None) -> tuple[dict, float]:
    """ingestion_program/ingestion.py on ``inputs`` with a sample submission: its record and wall time."""
    command = [sys.executable, "ingestion.py", "--input-dir", str(inputs), "--submission-dir",
               str(REPO / "sample_submissions" / model), "--output-dir", str(output), "--quiet"]
    if device:
        command += ["--device", device]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO / "ingestion_program", capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{model}: the ingestion program failed:\n{done.stdout}{done.stderr}")
    return json.loads((output / "ingestion.json").read_text()), wall


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, "
            f"Python {platform.python_version()}")


def probe_cost(record: dict, model: str) -> float:
    """Print one line of the probe's cost for a run; returns its wall time over the model's own."""
    probe = record["probe"]
    own = record.get("folder_model_s") or sum(e["model_s"] or 0.0 for e in record["images"])
    share = probe["wall_s"] / own if own > 0 else float("inf")
    verdict = "OK" if share <= PROBE_TARGET else "OVER TARGET"
    if own < 1.0:  # identity: the probe's own work (patterns, PNGs, measures) against no model time
        print(f"  {model:<15} {probe['extra_calls']:>3} extra calls, probe wall {probe['wall_s']:6.2f} s "
              f"(the probe's own work: the model itself takes {own:.3f} s, so no share); probe verdict "
              f"{probe['verdict']}")
        return share
    print(f"  {model:<15} {probe['extra_calls']:>3} extra calls, probe model time {probe['model_s']:6.2f} s, "
          f"probe wall {probe['wall_s']:6.2f} s; model's own time {own:7.2f} s on {record['images_total']} "
          f"images: {100 * share:5.1f}% (target <= {100 * PROBE_TARGET:.0f}%: {verdict}); probe verdict "
          f"{probe['verdict']}")
    return share


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--models", nargs="*", default=list(SAMPLE_MODELS),
                        help="sample submissions whose probe cost is measured (none: skip)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-ingestion-") as tmp:
        tmp = Path(tmp)
        inputs = make_inputs(tmp / "input_data", args.images)
        record, wall = run_model(inputs, tmp / "output", "identity", args.device)
        runs = {}
        for model in args.models:
            runs[model] = record if model == "identity" else \
                run_model(inputs, tmp / f"output-{model}", model, args.device)[0]
    images = record["images_total"]
    model_s = sum(e["model_s"] for e in record["images"])
    ready = record["worker_ready_s"][0]
    # the probe's calls (after the scored images) are its own cost, reported below
    per_image_ms = 1000 * (record["total_s"] - ready - model_s - record["probe"]["wall_s"]) / images
    checks = [e["content_check_s"] for e in record["images"] if e.get("content_check_s") is not None]
    check_ms = 1000 * sum(checks) / len(checks) if checks else 0.0
    beyond_ms = per_image_ms - check_ms
    verdict = "OK" if beyond_ms <= TARGET_MS else "OVER TARGET"
    env = record["environment"]
    print(f"ingestion overhead around an identity model, {images} images at 1K, {env['device_name']}:")
    print(f"  per image: {per_image_ms:.1f} ms (decode, guard, result transfer, PNG write, content check, "
          f"record)")
    print(f"  content check per image: {check_ms:.1f} ms (input decode + aiflash.forensics.screen, in a "
          f"writer thread)")
    print(f"  overhead beyond the content check: {beyond_ms:.1f} ms (target <= {TARGET_MS:.0f} ms: "
          f"{verdict})")
    print(f"  start-up, once per run: {ready:.2f} s (model process, imports, audit patches; model "
          f"load {record['load_s'][0]:.3f} s)")
    print(f"  whole process: {wall:.2f} s = {1000 * wall / images:.1f} ms per image, start-up included")
    if runs:
        print(f"resolution probe at the default count ({record['probe']['settings']['images']} images), "
              f"{images} images per run:")
        for model, run in runs.items():
            probe_cost(run, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
