#!/usr/bin/env python3
"""Benchmark: the content check's cost per 1K image on one core (target <= 150 ms).

Times ``aiflash.forensics.screen`` (luma of output and input, every measure, the verdict) on the
four 1K sample images (the sample results screened against the sample inputs), pinned to one
core (``sched_setaffinity``, like ``taskset -c 0``) with OpenCV and the FFTs single-threaded, and
each measure on its own. Decoding is not included (the ingestion and scoring programs already
hold both images). Prints the machine and its load: on a shared machine wall times are noisy;
the median over ``--repeats`` rounds is reported, with the fastest round beside it, and the
process's CPU time per image (one thread: what the check costs when it gets the core).

    python tools/bench_forensics.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "reference_data" / "sample"
TARGET_MS = 150.0


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{model}; {os.cpu_count()} CPUs; load average {load}; Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds over the four images")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)

    from aiflash.forensics import (
        fold_independence,
        hf_coherence,
        luminance,
        periodicity,
        screen,
        spectral_cliff,
    )
    from aiflash.profile import load_profile

    settings = load_profile().forensics
    pairs = []
    for path in sorted((SAMPLE / "input").iterdir()):
        source = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        output = cv2.cvtColor(cv2.imread(str(SAMPLE / "results" / f"{path.stem}.png")), cv2.COLOR_BGR2RGB)
        pairs.append((output, source))
    screen(*pairs[0], None, settings)  # warm-up: imports, FFT plans

    cpu_rounds: list[float] = []

    def per_image_ms(work) -> list[float]:
        rounds = []
        cpu_rounds.clear()
        for _ in range(args.repeats):
            start, cpu = time.perf_counter(), time.process_time()
            for output, source in pairs:
                work(output, source)
            rounds.append((time.perf_counter() - start) / len(pairs) * 1000)
            cpu_rounds.append((time.process_time() - cpu) / len(pairs) * 1000)
        return rounds

    lumas = [(luminance(o), luminance(s)) for o, s in pairs]
    print(f"machine: {machine()}")
    print(f"one core, {len(pairs)} sample images (1024x768 / 768x1024), {args.repeats} rounds")
    rounds = per_image_ms(lambda o, s: screen(o, s, None, settings))
    median = statistics.median(rounds)
    cpu = statistics.median(cpu_rounds)
    print(f"screen(): {median:.1f} ms wall per 1K image (median; fastest round {min(rounds):.1f} ms), "
          f"{cpu:.1f} ms CPU; target <= {TARGET_MS:.0f} ms: CPU ratio {cpu / TARGET_MS:.2f}, "
          f"wall ratio {median / TARGET_MS:.2f}")
    for name, measure in (("periodicity", periodicity), ("spectral_cliff", spectral_cliff),
                          ("hf_coherence", hf_coherence), ("fold_independence", fold_independence)):
        index = iter(range(10**9))

        def run(o, s, measure=measure, index=index):
            out_y, src_y = lumas[next(index) % len(lumas)]
            measure(out_y, src_y)

        wall = statistics.median(per_image_ms(run))
        print(f"  {name:<17} {wall:.1f} ms wall, {statistics.median(cpu_rounds):.1f} ms CPU")
    wall = statistics.median(per_image_ms(lambda o, s: (luminance(o), luminance(s))))
    print(f"  {'luma (both)':<17} {wall:.1f} ms wall, {statistics.median(cpu_rounds):.1f} ms CPU")



if __name__ == "__main__":
    main()
