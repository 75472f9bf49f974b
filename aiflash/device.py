"""Compute device choice: CUDA when present, CPU otherwise, with TF32 off (spec §2); and how many
images to score at once on the CPUs this process may really use."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

SYSFS_CPU = Path("/sys/devices/system/cpu")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
LANES_ENV = "AIFLASH_LANES"  # at most this many lanes (benchmarks)
MAX_LANES = 8  # each lane holds ~100 MB (decoded images, AlexNet activations): 8 keep RSS < 1.5 GB


# Device nodes of an NVIDIA driver (Linux, containers given a GPU) and of WSL2's GPU bridge:
# without any of them CUDA cannot be available, and torch need not be imported to ask.
GPU_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")


def cuda_possible(nodes: tuple[str, ...] = GPU_DEVICE_NODES) -> bool:
    return any(os.path.exists(node) for node in nodes)


def disable_tf32() -> None:
    """TF32 off for torch's CUDA convolutions and matmuls (spec §2: it moves SSIM by ~7e-4).
    Imports torch; process-wide."""
    import torch

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def pick_device(requested: str | None = None) -> str:
    """'cuda' if available (or requested), else 'cpu'; TF32 is disabled whenever torch is asked.

    On a machine without a GPU driver the answer is 'cpu' without importing torch (~3 s): the CPU
    scorer never needs it. Code that runs torch models on the CPU anyway (the ingestion worker)
    calls ``disable_tf32`` itself."""
    if requested == "cpu" or (not requested and not cuda_possible()):
        return "cpu"
    import torch

    disable_tf32()
    if requested:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but no CUDA device is available")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_description(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    return f"CPU ({torch.get_num_threads()} threads)"


@dataclass(frozen=True)
class CpuLayout:
    """The CPUs this process may run on: logical CPUs in its affinity mask, the physical cores
    they belong to, and a container's CPU quota (Docker ``--cpus``), if any."""

    logical: int
    physical: int
    quota: float | None
    model: str

    @property
    def usable(self) -> int:
        """Logical CPUs that can run at once: the affinity mask, capped by the quota."""
        if self.quota is None:
            return self.logical
        return max(1, min(self.logical, math.ceil(self.quota - 1e-9)))

    def describe(self) -> str:
        quota = f", quota {self.quota:g} CPUs" if self.quota is not None else ""
        return (f"{self.model}: {self.logical} logical CPU(s) usable on {self.physical} physical "
                f"core(s){quota}")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cpu_model() -> str:
    for line in (_read(Path("/proc/cpuinfo")) or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def _cgroup_quota(cpu_max: Path) -> float | None:
    """CPUs granted by a cgroup v2 quota ("max 100000" = none)."""
    fields = (_read(cpu_max) or "max").split()
    if fields[0] == "max" or len(fields) != 2:
        return None
    try:
        return int(fields[0]) / int(fields[1])
    except (ValueError, ZeroDivisionError):
        return None


def cpu_layout(sysfs: Path = SYSFS_CPU, cpu_max: Path = CGROUP_CPU_MAX) -> CpuLayout:
    """Read the layout from the affinity mask (so ``taskset`` counts), sysfs topology (SMT
    siblings share a physical core) and the cgroup quota. Unknown topology: one core per CPU."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(
        range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topology = sysfs / f"cpu{cpu}" / "topology"
        package, core = _read(topology / "physical_package_id"), _read(topology / "core_id")
        cores.add((package, core) if core is not None else ("cpu", cpu))
    return CpuLayout(len(cpus), len(cores), _cgroup_quota(cpu_max), _cpu_model())


@dataclass(frozen=True)
class ScoringPlan:
    """How the scoring pipeline uses the machine: ``lanes`` images in flight, each one decoded,
    measured and run through LPIPS by one worker, with ``torch_threads`` threads per forward;
    ``prefetch`` images are prepared ahead while the LPIPS model loads."""

    lanes: int
    torch_threads: int
    prefetch: int

    def describe(self) -> str:
        return (f"{self.lanes} lane(s) x {self.torch_threads} torch thread(s), "
                f"{self.prefetch} image(s) prepared during start-up")


def scoring_plan(layout: CpuLayout, device: str) -> ScoringPlan:
    """One worker per usable logical CPU, each with single-threaded torch.

    Independent single-threaded forwards never wait for each other, whereas one multi-threaded
    forward waits at every layer for its slowest thread: any other work on a core (decoding, the
    pixel metrics, another process) stalls all of them. So lanes replace intra-op threads; with
    one CPU this is the plain sequential path. On SMT siblings two lanes share a core's FMA units
    (no faster than one lane for the convolutions) but overlap decoding with them, never slower.
    Beyond MAX_LANES (memory) the spare CPUs become torch threads. On CUDA the lanes only
    overlap the CPU work of several images with the GPU's. ``AIFLASH_LANES=1`` forces the plain
    single-lane path (tools/bench_scoring.py compares the two).
    """
    usable = layout.usable
    lanes = max(1, min(usable, MAX_LANES, int(os.environ.get(LANES_ENV) or MAX_LANES)))
    threads = 1 if device != "cpu" else max(1, usable // lanes)
    # The model takes ~0.5 s of one CPU to build (~4 s where torch must be imported); a lane
    # prepares an image in ~0.1 s.
    return ScoringPlan(lanes, threads, prefetch=min(32, 12 * lanes))
