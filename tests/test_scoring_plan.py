"""How scoring uses the machine: the CPU layout it reads (affinity, SMT topology, cgroup quota),
the lanes it derives, and that the numbers never depend on them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiflash.device import LANES_ENV, MAX_LANES, CpuLayout, ScoringPlan, cpu_layout, scoring_plan
from aiflash.discovery import find_predictions, find_reference, match_cases
from aiflash.errors import SubmissionError
from aiflash.profile import load_profile
from aiflash.scoring import measure_cases

from .conftest import REPO
from .synth import make_dataset, write_rgb

CPUS = sorted(os.sched_getaffinity(0))


def fake_sysfs(root: Path, cores: dict[int, tuple[int, int]]) -> Path:
    """A /sys/devices/system/cpu tree: cpu -> (package, core)."""
    for cpu, (package, core) in cores.items():
        topology = root / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return root


def test_smt_siblings_count_as_one_physical_core(tmp_path):
    siblings = fake_sysfs(tmp_path / "smt", {cpu: (0, 0) for cpu in CPUS})
    separate = fake_sysfs(tmp_path / "cores", {cpu: (0, cpu) for cpu in CPUS})
    no_quota = tmp_path / "cpu.max"
    no_quota.write_text("max 100000\n")
    assert cpu_layout(siblings, no_quota).physical == 1
    assert cpu_layout(separate, no_quota).physical == len(CPUS)
    assert cpu_layout(siblings, no_quota).logical == len(CPUS)
    # Unknown topology (no sysfs): one core per CPU, never a crash.
    assert cpu_layout(tmp_path / "absent", tmp_path / "absent.max").physical == len(CPUS)


@pytest.mark.parametrize(("cpu_max", "quota", "usable"), [
    ("max 100000", None, 4), ("50000 100000", 0.5, 1), ("150000 100000", 1.5, 2),
    ("800000 100000", 8.0, 4), ("garbage", None, 4)])
def test_container_quota_caps_the_usable_cpus(tmp_path, cpu_max, quota, usable):
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max + "\n")
    layout = cpu_layout(tmp_path, path)
    assert layout.quota == quota
    assert CpuLayout(4, 4, layout.quota, "test CPU").usable == usable


def test_one_lane_per_usable_cpu_with_single_threaded_torch(monkeypatch):
    monkeypatch.delenv(LANES_ENV, raising=False)
    assert scoring_plan(CpuLayout(1, 1, None, "x"), "cpu") == ScoringPlan(1, 1, 12)
    assert scoring_plan(CpuLayout(2, 1, None, "x"), "cpu").lanes == 2  # SMT siblings: 2 lanes
    assert scoring_plan(CpuLayout(2, 2, 0.5, "x"), "cpu").lanes == 1  # --cpus 0.5 in Docker
    big = scoring_plan(CpuLayout(32, 16, None, "x"), "cpu")
    assert (big.lanes, big.torch_threads) == (MAX_LANES, 4)  # memory cap: spare CPUs become threads
    assert scoring_plan(CpuLayout(32, 16, None, "x"), "cuda").torch_threads == 1
    monkeypatch.setenv(LANES_ENV, "1")  # the benchmark's plain single-lane comparison
    assert scoring_plan(CpuLayout(4, 4, None, "x"), "cpu") == ScoringPlan(1, 4, 12)


def test_taskset_one_cpu_gives_the_plain_single_lane_path():
    """The plan follows the affinity mask (taskset), not os.cpu_count()."""
    code = ("from aiflash.device import cpu_layout, scoring_plan\n"
            "layout = cpu_layout()\n"
            "print(layout.logical, scoring_plan(layout, 'cpu').lanes)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60, preexec_fn=lambda: os.sched_setaffinity(0, {CPUS[0]}))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


def cases_of(tmp_path: Path, stems: list[str]):
    ref, res = make_dataset(tmp_path, stems, (160, 120))
    return match_cases(find_reference(ref), find_predictions(res)), res


def test_rows_are_the_same_whatever_the_lanes(tmp_path):
    """One lane (the sequential path), several lanes with preparation ahead, and start-up
    preparation of every image give identical rows, in the cases' order."""
    cases, _ = cases_of(tmp_path, [f"{i:04d}" for i in range(1, 8)])
    profile = load_profile("default")
    plans = [ScoringPlan(1, 1, 0), ScoringPlan(3, 1, 2), ScoringPlan(2, 1, 32)]
    tables = [measure_cases(cases, profile, "cpu", plan=plan)[0] for plan in plans]
    assert tables[0]["image"].tolist() == [case.stem for case in cases]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])


@pytest.mark.parametrize("plan", [ScoringPlan(1, 1, 0), ScoringPlan(2, 1, 3)])
def test_a_bad_image_stops_scoring_with_its_own_error(tmp_path, plan):
    """An unreadable result, early or late, ends the run with that image's error (the first bad
    image in order), whichever lane met it."""
    cases, res = cases_of(tmp_path, [f"{i:04d}" for i in range(1, 7)])
    write_rgb(res / "0005.png", np.zeros((7, 9, 3), np.uint8))
    with pytest.raises(SubmissionError, match="0005.png: result for image 0005 is 9x7"):
        measure_cases(cases, load_profile("default"), "cpu", plan=plan)


def test_the_installed_environment_scores_on_the_fastest_cpu_runtime():
    """requirements.lock installs ncnn and ONNX Runtime: a scorer that silently fell back to a
    slower runtime (a broken wheel, a missing library) would keep its numbers but lose ~20% of
    its speed, so this environment must pick the first of CPU_RUNTIMES."""
    from aiflash.metrics.lpips import CPU_RUNTIMES, default_runtime

    assert default_runtime("cpu") == CPU_RUNTIMES[0] == "onnxruntime+ncnn"
    assert default_runtime("cuda") == "torch"


def test_cpu_scoring_never_imports_torch(tmp_path):
    """Without a GPU driver, the CPU scorer runs LPIPS on ONNX Runtime from the .npz weights and
    never pays torch's import (~3 s); with a (pretend) driver node, it asks torch."""
    from aiflash.device import cuda_possible

    assert not cuda_possible((str(tmp_path / "nvidiactl"),))
    (tmp_path / "nvidiactl").touch()
    assert cuda_possible((str(tmp_path / "nvidiactl"),))
    ref, res = make_dataset(tmp_path / "data", ["a", "b"])
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from aiflash.device import cuda_possible\n"
        "from aiflash.discovery import find_predictions, find_reference, match_cases\n"
        "from aiflash.profile import load_profile\n"
        "from aiflash.scoring import measure_cases\n"
        f"cases = match_cases(find_reference(Path({str(ref)!r})), find_predictions(Path({str(res)!r})))\n"
        "device = 'cpu' if cuda_possible() else None\n"
        "rows, used = measure_cases(cases, load_profile(), device)\n"
        "assert used == 'cpu' and rows['LPIPS_person'].notna().all(), rows\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "no torch"
