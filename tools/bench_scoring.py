#!/usr/bin/env python3
"""Benchmark: our scorer vs a plain per-image restatement of the published algorithm.

Generates a Phase 2/3-sized set (100 pairs at 1K with person masks, PNG; score only: no input/
folder in the reference data, so no report input thumbnails), then scores it
1. with ``tools/published_scorer.py`` (cv2 decode, torch conv2d SSIM, cv2 Lab, one LPIPS call per
   crop: the organisers' way), and
2. with ``scoring_program/score.py`` (what Codabench runs),
each in a fresh process, start-up and exit included, alternating, ``--runs`` times. Prints a
header naming the machine (CPU, cores/SMT layout, caches, quota, load), the torch/oneDNN/MKL and
ONNX Runtime builds and the kernels they pick for one LPIPS forward, the scoring plan chosen for
this machine, per-stage timings of both implementations, then the median wall times, their
ratio, peak RSS and whether the numbers agree within the spec §6 tolerances.

    python tools/bench_scoring.py [--images 100] [--runs 3] [--keep DIR]
    python tools/bench_scoring.py --cpus 0          # both programs on one vCPU (taskset -c 0)
    python tools/bench_scoring.py --busy 1          # next to a process burning a core
    python tools/bench_scoring.py --single-lane     # also ours forced onto the plain single lane
    python tools/bench_scoring.py --all             # the three scenarios above, with --single-lane
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tools")]

from aiflash.device import LANES_ENV  # noqa: E402

TOLERANCE = {"PSNR_bg": 1e-4, "SSIM_global": 1e-5, "DeltaE_person": 1e-4, "LPIPS_person": 1e-5}
BUSY_LOOP = "while True: pass"


def generate(root: Path, count: int) -> tuple[Path, Path]:
    """``count`` 1K pairs (alternating 1024x768 and 768x1024) with one or two people."""
    from tests.synth import degrade, ellipse_mask, scene, write_grey, write_rgb

    rng = np.random.default_rng(2026)
    ref, res = root / "ref", root / "res"
    for i in range(1, count + 1):
        height, width = (768, 1024) if i % 2 else (1024, 768)
        gt = scene(height, width, rng)
        people = [(0.6, 0.5, 0.4, 0.22)] if i % 3 else [(0.6, 0.3, 0.35, 0.15), (0.6, 0.7, 0.35, 0.15)]
        write_rgb(ref / "gt" / f"{i:04d}.png", gt)
        write_grey(ref / "mask_personmask" / f"{i:04d}.png", ellipse_mask(height, width, people))
        write_rgb(res / f"{i:04d}.png", degrade(gt, rng))
    return ref, res


# --- the machine -------------------------------------------------------------------------------

def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "?"


def machine_header() -> list[str]:
    """CPU model, logical/physical/SMT layout, caches, quota, load: what makes figures comparable."""
    from aiflash.device import cpu_layout

    layout = cpu_layout()
    cpus = sorted(os.sched_getaffinity(0))
    sysfs = Path("/sys/devices/system/cpu")
    siblings = sorted({_read(sysfs / f"cpu{c}" / "topology" / "thread_siblings_list") for c in cpus})
    caches = []
    for index in sorted((sysfs / "cpu0" / "cache").glob("index*")):
        kind = {"Data": "d", "Instruction": "i"}.get(_read(index / "type"), "")
        caches.append(f"L{_read(index / 'level')}{kind} {_read(index / 'size')} "
                      f"(shared by CPUs {_read(index / 'shared_cpu_list')})")
    flags = _read(Path("/proc/cpuinfo"))
    isa = [f for f in ("avx512f", "avx512_vnni", "avx2", "fma") if re.search(rf"\b{f}\b", flags)]
    hypervisor = "hypervisor" in flags
    return [
        f"CPU: {layout.model} ({platform.machine()}, {', '.join(isa) or 'no AVX2'}"
        f"{', virtual machine' if hypervisor else ''})",
        f"layout: {layout.logical} logical CPU(s) usable {cpus} on {layout.physical} physical core(s); "
        f"SMT sibling groups {siblings}; cgroup quota "
        f"{'none' if layout.quota is None else f'{layout.quota:g} CPUs'}; os.cpu_count() {os.cpu_count()}",
        "caches (cpu0): " + "; ".join(caches),
        f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
        f"(a quiet machine is ~0; other processes make every figure below noisy)",
    ]


def software_header() -> list[str]:
    import cv2
    import torch

    from aiflash.device import cpu_layout, scoring_plan
    from aiflash.metrics.lpips import default_runtime

    config = torch.__config__.show()
    libs = [line.strip(" -") for line in config.splitlines()
            if "Math Kernel" in line or "MKL-DNN" in line or "CPU capability" in line]
    try:
        import onnxruntime

        ort = f"onnxruntime {onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())})"
    except ImportError:
        ort = "onnxruntime not installed"
    try:
        import ncnn

        ort += f", ncnn {ncnn.__version__}"
    except ImportError:
        ort += ", ncnn not installed"
    plan = scoring_plan(cpu_layout(), "cpu")
    return [
        f"python {platform.python_version()}, numpy {np.__version__}, opencv {cv2.__version__}, "
        f"torch {torch.__version__} (default {torch.get_num_threads()} intra-op threads), {ort}",
        "torch build: " + "; ".join(libs),
        f"scorer plan here: {plan.describe()}; LPIPS runtime on CPU: {default_runtime('cpu')}",
    ]


def kernel_report() -> list[str]:
    """The kernels one LPIPS forward runs (a 623x467 crop pair, single thread): oneDNN's choice
    for the torch forward (ONEDNN_VERBOSE), ONNX Runtime's per operator type (its profiler)."""
    script = (
        "import numpy as np, torch, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "torch.set_num_threads(1)\n"
        "from aiflash.metrics.lpips import LpipsAlex\n"
        "m = LpipsAlex('cpu', runtime='torch')\n"
        "a, b = np.random.default_rng(0).integers(0, 256, (2, 623, 467, 3), dtype=np.uint8)\n"
        "m.distance(a, b)\n"
        "print('--- measured ---', flush=True)\n"
        "m.distance(a, b)\n"
    )
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         check=False).stdout
    lines = ["oneDNN kernels, torch LPIPS forward (2x3x623x467, 1 thread; ms):"]
    measured = out.split("--- measured ---", 1)[-1]
    for line in measured.splitlines():
        fields = line.split(",")
        if len(fields) > 10 and fields[2] == "primitive" and fields[5] == "convolution":
            shape = re.sub(r"(mb\d+_ic\d+oc\d+).*?(_ih\d+).*?(kh\d+sh\d+).*", r"\1\2 \3", fields[-2])
            lines.append(f"  convolution {fields[6]:<22} {shape:<32} {float(fields[-1]):7.1f}")
    if len(lines) == 1:
        lines.append("  (no oneDNN verbose output: this torch build does not use oneDNN here)")
    lines += _ort_profile()
    return lines


def _ort_profile() -> list[str]:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return []
    from aiflash.metrics.lpips import onnx_session
    from aiflash.metrics.lpips_graph import TAIL_FEATURES

    with tempfile.TemporaryDirectory() as tmp:
        session = onnx_session(1, profile_prefix=str(Path(tmp) / "ort"))
        pair = _kernel_pair()
        session.run(None, {"pair": pair})
        session.run(None, {"pair": pair})
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = [e for e in events if e.get("name") == "model_run"]
    last_start = runs[-1]["ts"] if runs else 0
    by_op: dict[str, float] = defaultdict(float)
    convolutions_3x3 = 0.0  # AlexNet's three 3x3 convolutions (ONNX Runtime names them after their ReLU)
    for event in events:
        if (event.get("cat") == "Node" and event["ts"] >= last_start
                and event["name"].endswith("_kernel_time")):
            by_op[event["args"]["op_name"]] += event["dur"] / 1000
            if event["args"]["op_name"] == "Conv" and event["name"].startswith(TAIL_FEATURES):
                convolutions_3x3 += event["dur"] / 1000
    lines = ["ONNX Runtime operators, same forward, the whole distance on ONNX Runtime (ms):"]
    lines += [f"  {op:<24} {ms:7.1f}" for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])]
    return lines + _ncnn_convolutions(convolutions_3x3)


def _kernel_pair() -> np.ndarray:
    """The kernel report's crop pair as the ONNX graphs take it (scaled float32, 2x623x467x3)."""
    from aiflash.metrics.lpips import scaled_pair

    return scaled_pair(*np.random.default_rng(0).integers(0, 256, (2, 623, 467, 3), dtype=np.uint8))


def _ncnn_convolutions(onnxruntime_ms: float) -> list[str]:
    """The three 3x3 convolutions on ncnn's Winograd kernels (the default CPU runtime's split),
    the median of five warm runs, against ONNX Runtime's time for them in its profiled (warm) run
    of the same forward."""
    try:
        import ncnn
    except ImportError:
        return ["ncnn not installed: the 3x3 convolutions run on ONNX Runtime"]
    from aiflash.lpips_weights import load_weights
    from aiflash.metrics.lpips import onnx_session
    from aiflash.metrics.lpips_graph import head_graph
    from aiflash.metrics.lpips_ncnn import convolutions, features

    weights = load_weights()
    _, pooled = onnx_session(1, graph=head_graph(weights)).run(None, {"pair": _kernel_pair()})
    net = convolutions(weights, threads=1)
    features(net, pooled)  # warm-up, as ONNX Runtime's first run
    times = []
    for _ in range(5):
        start = time.thread_time()
        features(net, pooled)
        times.append((time.thread_time() - start) * 1000)
    return [f"ncnn {ncnn.__version__}, same forward: 3x3 convolutions 3-5 (Winograd F(4x4,3x3), 1 thread) "
            f"{np.median(times):.1f} ms; ONNX Runtime's {onnxruntime_ms:.1f} ms"]


# --- per stage, in process ------------------------------------------------------------------------

def stage_breakdown(ref: Path, res: Path, count: int) -> list[str]:
    """Per-stage times (ms/image: wall and this thread's CPU) of both implementations on the
    first ``count`` images, one image at a time, torch single-threaded for ours (as each lane
    runs it) and at its default for the published code (as it runs)."""
    import published_scorer as pub
    import torch

    from aiflash.discovery import find_predictions, find_reference, match_cases
    from aiflash.images import read_person_mask, read_rgb
    from aiflash.metrics.deltae import person_delta_e
    from aiflash.metrics.lpips import CPU_RUNTIMES, LpipsAlex, default_runtime, person_lpips
    from aiflash.metrics.psnr import background_psnr
    from aiflash.metrics.ssim import global_ssim
    from aiflash.previews import make_preview

    cases = match_cases(find_reference(ref), find_predictions(res))[:count]
    default_threads = torch.get_num_threads()
    # The default CPU runtime and every slower one after it (their libraries are a subset).
    ours = {name: LpipsAlex("cpu", runtime=name)
            for name in CPU_RUNTIMES[CPU_RUNTIMES.index(default_runtime("cpu")):]}
    theirs = pub.build_lpips()
    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)

    def clock(name: str, fn, *args):
        start_wall, start_cpu = time.perf_counter(), time.thread_time()
        value = fn(*args)
        wall[name] += (time.perf_counter() - start_wall) * 1000 / len(cases)
        cpu[name] += (time.thread_time() - start_cpu) * 1000 / len(cases)
        return value

    import cv2

    saved_cv2 = cv2.getNumThreads()
    for index, case in enumerate([cases[0], *cases]):
        if index == 1:  # the first pass warms caches and one-time tables up, untimed
            wall.clear()
            cpu.clear()
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        r = clock("ours: decode (3 files)", lambda p: read_rgb(p)[0], case.prediction_path)
        g = clock("ours: decode (3 files)", lambda p: read_rgb(p)[0], case.gt_path)
        p = clock("ours: decode (3 files)", read_person_mask, case.mask_path)
        clock("ours: PSNR_bg", background_psnr, r, g, p)
        clock("ours: SSIM_global", global_ssim, r, g)
        clock("ours: DeltaE_person", person_delta_e, r, g, p)
        clock("ours: report thumbnails", make_preview, r, g, p)
        for name, model in ours.items():
            clock(f"ours: LPIPS_person ({name})", person_lpips, model, r, g, p)
        torch.set_num_threads(default_threads)
        cv2.setNumThreads(saved_cv2)
        sr = clock("published: decode (3 files)", pub.load_image, case.prediction_path)
        hr = clock("published: decode (3 files)", pub.load_image, case.gt_path)
        mask = clock("published: decode (3 files)", pub.load_mask, case.mask_path)
        sr_t, hr_t, m_t = pub.to_tensor(sr), pub.to_tensor(hr), torch.from_numpy(mask)[None, None]
        clock("published: PSNR_bg", pub.psnr_bg, sr_t, hr_t, m_t)
        clock("published: SSIM_global", pub.ssim_global, sr_t, hr_t)
        clock("published: DeltaE_person", pub.deltae_person, sr, hr, mask)
        clock("published: LPIPS_person", pub.lpips_person, theirs, sr, hr, mask)
    lines = [f"Per stage, mean over {len(cases)} images, in process, model built once "
             f"(ms/image; CPU = this thread's CPU time, published torch ops on {default_threads} "
             f"threads count only partly):"]
    for label in ("ours", "published"):
        names = [n for n in wall if n.startswith(label)]
        for name in names:
            lines.append(f"  {name:<40} wall {wall[name]:7.1f}   CPU {cpu[name]:7.1f}")
        default_lpips = f"ours: LPIPS_person ({default_runtime('cpu')})"
        total = [n for n in names if "LPIPS" not in n or n in (default_lpips, "published: LPIPS_person")]
        lines.append(f"  {label + ': total':<40} wall {sum(wall[n] for n in total):7.1f}   "
                     f"CPU {sum(cpu[n] for n in total):7.1f}")
    return lines


# --- whole processes ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    label: str
    cpus: frozenset[int] | None  # None: this process's affinity
    busy: int  # processes burning a core beside the runs


def timed_run(command: list[str], cwd: Path, cpus: frozenset[int] | None,
              env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system, all threads) of ``command`` in
    a fresh process, start-up and exit included. CPU time barely depends on other processes: on
    a loaded machine its ratio is the steadier estimate of the one-vCPU wall ratio.

    Peak RSS is the child's own high-water mark (VmHWM of its address space after exec), read
    every 20 ms: wait4's ru_maxrss would also count the pages of this process, which the child
    shares from fork until exec (~1 GB here, once the in-process stages have run)."""
    import threading

    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL,
                               env=dict(os.environ, **env) if env else None,
                               preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    peak_kb = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak_kb
        status_file = Path(f"/proc/{process.pid}/status")
        while not done.wait(0.02):
            try:
                text = status_file.read_text()
            except OSError:
                return
            if str(command[1]) in Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace"):
                match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
                peak_kb = max(peak_kb, int(match.group(1)) if match else 0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{command[1]} failed with exit code {process.returncode}")
    return wall, peak_kb / 1024.0, usage.ru_utime + usage.ru_stime


def run_published(ref: Path, res: Path, out: Path, cpus) -> tuple[float, float, float]:
    out.mkdir(parents=True, exist_ok=True)
    return timed_run([sys.executable, str(REPO / "tools" / "published_scorer.py"), str(ref), str(res),
                      str(out / "published.json")], REPO, cpus)


def run_ours(ref: Path, res: Path, out: Path, cpus,
             single_lane: bool = False) -> tuple[float, float, float]:
    """scoring_program/score.py exactly as Codabench runs it (cwd = the program folder); with
    ``single_lane``, forced onto the plain single-lane path."""
    return timed_run([sys.executable, "score.py", "--reference-dir", str(ref), "--prediction-dir", str(res),
                      "--output-dir", str(out), "--quiet"], REPO / "scoring_program", cpus,
                     {LANES_ENV: "1"} if single_lane else None)


def compare(out_ours: Path, out_published: Path) -> float:
    """Largest per-image difference relative to its tolerance (<= 1 means within spec §6)."""
    import pandas as pd

    ours = pd.read_csv(out_ours / "per_image_scores.csv", dtype={"image": str}).set_index("image")
    theirs = json.loads((out_published / "published.json").read_text())
    worst = 0.0
    for stem, row in theirs["per_image"].items():
        for key, tol in TOLERANCE.items():
            if row[key] is not None:
                worst = max(worst, abs(float(ours.loc[stem, key]) - row[key]) / tol)
    score = json.loads((out_ours / "scores.json").read_text())["Score"]
    worst = max(worst, abs(score - theirs["Score"]) / 1e-3)
    return worst


def run_scenario(scenario: Scenario, ref: Path, res: Path, root: Path, runs: int,
                 single_lane: bool) -> dict:
    """Alternating whole-process runs (published first, then ours, then, with ``single_lane``,
    ours forced onto one lane; ``runs`` times)."""
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(scenario.busy)]
    try:
        published, ours, one_lane, rss_published, rss_ours = [], [], [], [], []
        cpu_published, cpu_ours = [], []
        for index in range(runs):
            wall, rss, cpu = run_published(ref, res, root / "out_published", scenario.cpus)
            published.append(wall)
            rss_published.append(rss)
            cpu_published.append(cpu)
            wall, rss, cpu = run_ours(ref, res, root / "out_ours", scenario.cpus)
            ours.append(wall)
            rss_ours.append(rss)
            cpu_ours.append(cpu)
            if single_lane:
                one_lane.append(run_ours(ref, res, root / "out_one_lane", scenario.cpus, True)[0])
            print(f"  [{scenario.label}] run {index + 1}/{runs}: published {published[-1]:6.1f} s, "
                  f"ours {ours[-1]:6.1f} s ({published[-1] / ours[-1]:.2f}x)"
                  + (f", ours on one lane {one_lane[-1]:6.1f} s" if single_lane else "")
                  + f", load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return {"scenario": scenario, "published": published, "ours": ours, "one_lane": one_lane,
            "cpu_published": cpu_published, "cpu_ours": cpu_ours,
            "rss_published": max(rss_published), "rss_ours": max(rss_ours),
            "worst": compare(root / "out_ours", root / "out_published")}


def report(result: dict) -> list[str]:
    published, ours = statistics.median(result["published"]), statistics.median(result["ours"])
    worst = result["worst"]
    cpu_published, cpu_ours = (statistics.median(result[k]) for k in ("cpu_published", "cpu_ours"))
    runs_published, runs_ours = (" ".join(f"{v:.1f}" for v in result[k]) for k in ("published", "ours"))
    return [
        f"{result['scenario'].label}: median of {len(result['ours'])} alternating whole-process runs",
        f"  published restatement: {published:7.1f} s wall ({runs_published})"
        f"  peak RSS {result['rss_published']:6.0f} MB",
        f"  aiflash score.py:      {ours:7.1f} s wall ({runs_ours})"
        f"  peak RSS {result['rss_ours']:6.0f} MB",
        f"  speed-up (median wall, fresh processes, start-up included): {published / ours:.2f}x",
        f"  CPU time (user+system, all threads): published {cpu_published:.1f} s, ours {cpu_ours:.1f} s "
        f"({cpu_published / cpu_ours:.2f}x less)",
        *([f"  ours forced onto one lane ({LANES_ENV}=1): {statistics.median(result['one_lane']):7.1f} s "
           f"wall ({' '.join(f'{v:.1f}' for v in result['one_lane'])}); adaptive plan "
           f"{statistics.median(result['one_lane']) / ours:.2f}x of it"] if result["one_lane"] else []),
        f"  largest difference / tolerance (spec §6): {worst:.3f} "
        f"({'same numbers' if worst <= 1 else 'DIFFERENT NUMBERS'})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, choices=range(1, 100), metavar="N",
                        help="alternating whole-process runs (median), default 3")
    parser.add_argument("--stage-images", type=int, default=10)
    parser.add_argument("--cpus", default=None, help="run both programs on these CPUs, e.g. 0 or 0,1")
    parser.add_argument("--busy", type=int, default=0, help="processes burning a core beside the runs")
    parser.add_argument("--all", action="store_true",
                        help="three scenarios: all CPUs; --cpus 0; --busy 1")
    parser.add_argument("--single-lane", action="store_true",
                        help=f"also time ours forced onto one lane ({LANES_ENV}=1); implied by --all")
    parser.add_argument("--no-kernels", action="store_true", help="skip the kernel report")
    parser.add_argument("--keep", type=Path, default=None, help="generate into (and keep) this folder")
    args = parser.parse_args()

    print("\n".join(machine_header() + software_header()), flush=True)
    if not args.no_kernels:
        print("\n".join(kernel_report()), flush=True)
    if args.all:
        scenarios = [Scenario("all usable CPUs", None, 0),
                     Scenario("taskset -c 0 (one vCPU)", frozenset({0}), 0),
                     Scenario("next to 1 busy loop", None, 1)]
    else:
        cpus = frozenset(int(c) for c in args.cpus.split(",")) if args.cpus else None
        label = (f"CPUs {sorted(cpus)}" if cpus else "all usable CPUs") + (
            f", next to {args.busy} busy loop(s)" if args.busy else "")
        scenarios = [Scenario(label, cpus, args.busy)]
    with tempfile.TemporaryDirectory(prefix="aiflash-bench-") as tmp:
        root = args.keep or Path(tmp)
        ref, res = (root / "ref", root / "res") if (root / "ref" / "gt").is_dir() else generate(
            root, args.images)
        count = len(list((ref / "gt").iterdir()))
        print(f"{count} pairs at 1K in {root}; score only (no input/ in the reference data, so no "
              f"report input thumbnails or input-based checks)", flush=True)
        print("\n".join(stage_breakdown(ref, res, args.stage_images)), flush=True)
        results = [run_scenario(s, ref, res, root, args.runs, args.single_lane or args.all)
                   for s in scenarios]
    print()
    for result in results:
        print("\n".join(report(result)))
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
