#!/usr/bin/env python3
"""Benchmark: the ranking statistics (issue 12) at challenge size, against the 5 s budget.

Writes a planted challenge (12 teams x 100 images for Phase 2 and for the Phase 3 reproduction,
5 experts x 100 images of votes), then times, with the profile's 2,000 resamples:
1. the objective bootstrap of one phase alone (12 teams x 100 images x 2,000 resamples);
2. the whole statistics step in process: read the per-image files and vote files, every statistic
   (both phases, agreement, subjective/final bootstrap, leave-one-expert-out, weights, objective
   vs subjective), and render every table and plot of the leaderboard;
3. `aiflash stats` as a fresh process (interpreter start-up and imports included).
Prints the machine, its load, the times (best and median of --repeat) and the ratio to 5 s.

    python tools/bench_stats.py [--teams 12] [--images 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

BUDGET_S = 5.0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    import numpy
    import scipy
    return (f"{cpu}; {os.cpu_count()} logical CPUs; load average {load}; Python "
            f"{platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__}")


def timed(function, repeat: int) -> tuple[float, float, float]:
    """Best and median wall time, and the median CPU time (this process and its children): on a
    machine shared with other jobs the CPU time is what the step costs, the wall time what it got."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), _cpu()
        function()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return min(walls), statistics.median(walls), statistics.median(cpus)


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=12)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--experts", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from aiflash.cli import build_parser
    from aiflash.commands.leaderboard import gather, site_of, statistics_of
    from aiflash.profile import load_profile
    from aiflash.stats.objective import objective_uncertainty
    from tests.stats_data import (
        planted_per_image,
        team_names,
        write_phase,
        write_reproduction,
        write_votes,
    )

    profile = load_profile()
    print(f"Machine: {machine()}")
    print(f"Size: {args.teams} teams x {args.images} images x {profile.statistics.resamples:,} resamples, "
          f"{args.experts} experts; best / median of {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="aiflash-bench-stats-") as tmp:
        root = Path(tmp)
        teams = team_names(args.teams)
        per_image = planted_per_image(teams, args.images, seed=1, near_equal=(teams[3], teams[4]))
        phase2, folder = write_phase(root / "phase2", per_image)
        reproduction = write_reproduction(root / "repro", per_image)
        key, votes = write_votes(root, teams, args.images, args.experts,
                                 {t: 1.0 - 0.05 * i for i, t in enumerate(teams)}, seed=2)
        argv = ["stats", "--phase2", str(phase2), "--per-image", f"phase2={folder}",
                "--reproduction", str(reproduction), "--votes", str(votes), "--key", str(key)]

        print("                                        wall best / median   CPU median")
        best, median, cpu = timed(lambda: objective_uncertainty(per_image, profile), args.repeat)
        print(f"1. objective bootstrap, one phase:      {best:6.3f} s / {median:6.3f} s   {cpu:6.3f} s")

        def whole() -> None:
            parsed = build_parser().parse_args([*argv, "--output-dir", str(root / "out")])
            parsed.title = "bench"
            inputs = gather(parsed)
            site_of(inputs, parsed, statistics_of(inputs))

        best, median, cpu = timed(whole, args.repeat)
        print(f"2. whole statistics step, in process:   {best:6.3f} s / {median:6.3f} s   {cpu:6.3f} s  "
              f"(wall {median / BUDGET_S:.0%}, CPU {cpu / BUDGET_S:.0%} of the {BUDGET_S:g} s budget)")

        def process() -> None:
            subprocess.run([sys.executable, "-m", "aiflash", *argv], check=True, stdout=subprocess.DEVNULL)

        best, median, cpu = timed(process, max(1, min(args.repeat, 3)))
        print(f"3. `aiflash stats`, fresh process:      {best:6.3f} s / {median:6.3f} s   {cpu:6.3f} s  "
              f"(start-up and imports included)")
        best, median, cpu = timed(lambda: subprocess.run([sys.executable, "-m", "aiflash", "--help"],
                                                         check=True, stdout=subprocess.DEVNULL), 3)
        print(f"   of which `aiflash --help` start-up:  {best:6.3f} s / {median:6.3f} s   {cpu:6.3f} s")
    print(f"Load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
