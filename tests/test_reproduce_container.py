"""The container runner: the `docker run` command lines it generates (isolation flags, mounts,
GPU), and the one-team-per-GPU schedule, checked on the commands a stand-in `docker` executable
actually received. No Docker daemon is needed (or used)."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from aiflash.bundle import DOCKER_IMAGE
from aiflash.reproduce.errors import ReproductionError
from aiflash.reproduce.pipeline import ReproductionConfig, run
from aiflash.reproduce.runners import ContainerRunner
from aiflash.reproduce.schedule import overlapping, parse_gpus, run_on_slots
from aiflash.reproduce.steps import Programs, TeamLayout, ingestion_step, scoring_step

VALUELESS = {"--rm", "--read-only"}


def parse_run(argv: list[str]) -> tuple[list[tuple[str, str | None]], str, list[str]]:
    """Split `docker run` arguments into (options, image, command)."""
    assert argv[1] == "run", argv
    options, i = [], 2
    while argv[i].startswith("-"):
        if argv[i] in VALUELESS:
            options.append((argv[i], None))
            i += 1
        else:
            options.append((argv[i], argv[i + 1]))
            i += 2
    return options, argv[i], argv[i + 1:]


def values(options, flag: str) -> list[str | None]:
    return [v for f, v in options if f == flag]


def mounts(options) -> list[dict[str, str]]:
    parsed = []
    for spec in values(options, "--mount"):
        fields = dict(part.split("=", 1) if "=" in part else (part, "") for part in spec.split(","))
        parsed.append(fields)
    return parsed


@pytest.fixture()
def world(tmp_path: Path):
    """Hidden phase data, program folders and three team submissions, all tiny stand-ins."""
    data = tmp_path / "hidden"
    for name in ("input", "gt", "mask_personmask"):
        (data / name).mkdir(parents=True)
    programs = {}
    for name, script in (("ingestion_program", "ingestion.py"), ("scoring_program", "score.py")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / script).write_text("print('stand-in')\n")
        (folder / "metadata.yaml").write_text(f"command: python3 {script}\n")
        programs[name] = folder
    submissions = tmp_path / "submissions"
    for team in ("alpha", "bravo", "charlie"):
        (submissions / team).mkdir(parents=True)
        (submissions / team / "model.py").write_text(f"# {team}\n")
    return {"data": data, "submissions": submissions, "out": tmp_path / "out",
            "programs": Programs(programs["ingestion_program"], programs["scoring_program"])}


def steps_for(world, gpu: str | None = "1"):
    layout = TeamLayout(world["out"] / "teams" / "alpha")
    for folder in (layout.submission, layout.predictions, layout.scoring):
        folder.mkdir(parents=True)
    return (ingestion_step("alpha", layout, world["data"], world["programs"], gpu, 600.0),
            scoring_step("alpha", layout, world["data"], world["programs"], gpu, 600.0), layout)


def test_every_isolation_flag_is_on_both_steps(world):
    runner = ContainerRunner(DOCKER_IMAGE, user="1000:1000")
    for step in steps_for(world)[:2]:
        options, image, command = parse_run(runner.describe(step))
        assert image == DOCKER_IMAGE
        assert values(options, "--network") == ["none"]
        assert ("--read-only", None) in options
        assert [v.split(":")[0] for v in values(options, "--tmpfs")] == ["/tmp"]
        assert values(options, "--cap-drop") == ["ALL"]
        assert values(options, "--security-opt") == ["no-new-privileges"]
        assert int(values(options, "--pids-limit")[0]) > 0
        assert values(options, "--memory") == values(options, "--memory-swap") != []
        assert values(options, "--shm-size") == ["8g"]
        assert values(options, "--pull") == ["never"]
        assert values(options, "--user") == ["1000:1000"]
        assert values(options, "--workdir") == ["/app/program"]
        assert values(options, "--gpus") == ["device=1"]
        assert "NVIDIA_VISIBLE_DEVICES=1" in values(options, "--env")
        # Nothing that widens the sandbox, and no second way of mounting.
        flags = {f for f, _ in options}
        assert not flags & {"--privileged", "--cap-add", "--device", "-v", "--volume", "--volumes-from",
                            "--network-alias", "--ipc", "--pid", "--userns", "-p", "--publish"}
        assert command[:2] == ["python3", "ingestion.py" if step.name == "ingestion" else "score.py"]
        program = [m for m in mounts(options) if m["target"] == "/app/program"]
        assert program == [{"type": "bind", "source": str(step.program.resolve()),
                            "target": "/app/program", "readonly": ""}]


def test_ingestion_mounts_no_ground_truth_writes_only_output_submission_copy_and_tmp(world):
    ingestion, _, layout = steps_for(world)
    options, _, command = parse_run(ContainerRunner(DOCKER_IMAGE).describe(ingestion))
    gt = (world["data"] / "gt").resolve()
    specs = mounts(options)
    for spec in specs:
        source = Path(spec["source"])
        # Neither the ground truth nor any folder containing it (e.g. the whole phase folder).
        assert not (gt == source or gt.is_relative_to(source)), spec
        assert "/app/input/ref" not in spec["target"]
    writable = [s for s in specs if "readonly" not in s]
    output = str(layout.predictions.resolve())
    # As on Codabench, the model may write next to itself: into the team's private copy (re-staged
    # for every run, never the organisers' original), besides the output and the tmpfs /tmp.
    assert writable == [{"type": "bind", "source": str(layout.submission.resolve()),
                         "target": "/app/ingested_program"},
                        {"type": "bind", "source": output, "target": "/app/output"}]
    assert all(s.get("readonly") == "" for s in specs if s not in writable)
    assert layout.submission.resolve().is_relative_to(world["out"].resolve())
    assert ("--read-only", None) in options and values(options, "--network") == ["none"]
    assert [v.split(":")[0] for v in values(options, "--tmpfs")] == ["/tmp"]
    targets = {s["target"]: Path(s["source"]) for s in specs}
    assert targets == {
        "/app/program": world["programs"].ingestion.resolve(),
        "/app/ingested_program": layout.submission.resolve(),
        "/app/input_data/input": (world["data"] / "input").resolve(),
        "/app/input_data/mask_personmask": (world["data"] / "mask_personmask").resolve(),
        "/app/output": layout.predictions.resolve(),
    }
    assert command == ["python3", "ingestion.py", "--input-dir", "/app/input_data",
                       "--submission-dir", "/app/ingested_program", "--output-dir", "/app/output"]


def test_scoring_reads_ground_truth_and_predictions_read_only(world):
    _, scoring, layout = steps_for(world)
    options, _, command = parse_run(ContainerRunner(DOCKER_IMAGE).describe(scoring))
    specs = {s["target"]: s for s in mounts(options)}
    assert Path(specs["/app/input/ref/gt"]["source"]) == (world["data"] / "gt").resolve()
    for target in ("/app/input/ref/gt", "/app/input/ref/mask_personmask", "/app/input/res", "/app/program"):
        assert "readonly" in specs[target], target
    assert [t for t, s in specs.items() if "readonly" not in s] == ["/app/output"]
    assert Path(specs["/app/output"]["source"]) == layout.scoring.resolve()
    assert Path(specs["/app/input/res"]["source"]) == layout.predictions.resolve()
    assert values(options, "--network") == ["none"]
    assert command[-6:] == ["--reference-dir", "/app/input/ref", "--prediction-dir", "/app/input/res",
                            "--output-dir", "/app/output"]


def test_cpu_slot_exposes_no_gpu(world):
    ingestion = steps_for(world, gpu=None)[0]
    options, _, _ = parse_run(ContainerRunner(DOCKER_IMAGE).describe(ingestion))
    assert values(options, "--gpus") == []
    assert "NVIDIA_VISIBLE_DEVICES=void" in values(options, "--env")


def test_mount_path_with_comma_is_refused(world, tmp_path):
    odd = tmp_path / "a,b"
    odd.mkdir()
    ingestion = steps_for(world)[0]
    bad = type(ingestion)(**{**ingestion.__dict__, "program": odd})
    with pytest.raises(ReproductionError, match="comma"):
        ContainerRunner(DOCKER_IMAGE).describe(bad)


def test_parse_gpus():
    assert parse_gpus("0,1") == ("0", "1")
    assert parse_gpus(" none ") == (None,)
    assert parse_gpus("GPU-8a1f") == ("GPU-8a1f",)
    for bad in ("0,0", "0,,1", "device=0", "0 1"):
        with pytest.raises(ValueError):
            parse_gpus(bad)


FAKE_DOCKER = textwrap.dedent("""\
    #!{python}
    # Stand-in for the docker CLI: records each `run` (argv, start, end), sleeps, exits 0.
    import json, os, sys, time
    argv = sys.argv[1:]
    if argv[:2] == ["image", "inspect"]:
        sys.exit(int(os.environ.get("FAKE_DOCKER_IMAGE_RC", "0")))
    if argv[:1] == ["run"] and "--entrypoint" in argv:  # the aiflash version probe
        with open(os.environ["FAKE_DOCKER_LOG"] + ".probe", "w") as log:
            json.dump(argv, log)
        print(os.environ.get("FAKE_DOCKER_AIFLASH", "0.1.0"))
        sys.exit(0)
    if argv[:1] == ["run"]:
        start = time.time()
        time.sleep(float(os.environ.get("FAKE_DOCKER_SLEEP", "0.3")))
        with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
            log.write(json.dumps({{"argv": argv, "start": start, "end": time.time()}}) + "\\n")
        rc = int(os.environ.get("FAKE_DOCKER_RUN_RC", "0"))
        if rc:
            print("docker: Error response from daemon: stand-in failure", file=sys.stderr)
        sys.exit(rc)
    sys.exit(0)
""")


@pytest.fixture()
def fake_docker(tmp_path, monkeypatch):
    path = tmp_path / "fake-docker"
    path.write_text(FAKE_DOCKER.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "docker-runs.jsonl"
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    return path, log


def _runs(log: Path) -> list[dict]:
    if not log.exists():
        return []
    runs = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        options, _, _ = parse_run(["docker", *entry["argv"]])
        entry["gpu"] = values(options, "--gpus")[0]
        entry["team"] = next(v.split("=", 1)[1] for v in values(options, "--label")
                             if v.startswith("aiflash.team="))
        runs.append(entry)
    return runs


def _config(world, docker: Path, **changes) -> ReproductionConfig:
    fields = dict(submissions=world["submissions"], data=world["data"], output_dir=world["out"],
                  programs=world["programs"], runner=ContainerRunner(DOCKER_IMAGE, docker=str(docker)),
                  slots=("0", "1"))
    fields.update(changes)
    return ReproductionConfig(**fields)


def test_two_gpus_three_teams_never_share_a_gpu(world, fake_docker, monkeypatch):
    docker, log = fake_docker
    # Containers long enough that the two GPUs' first tenures overlap even on a loaded machine.
    monkeypatch.setenv("FAKE_DOCKER_SLEEP", "2")
    outcome = run(_config(world, docker), log=lambda message: None)
    # The scheduler's own record: three tenures, both GPUs used, in parallel, never overlapping.
    timeline = outcome.timeline
    assert sorted(a.job for a in timeline) == ["alpha", "bravo", "charlie"]
    assert {a.slot for a in timeline} == {"0", "1"}
    assert overlapping(timeline) == []
    assert timeline[0].start < timeline[1].end and timeline[1].start < timeline[0].end  # two at once
    # What the docker CLI actually received: two steps per team, both on the team's GPU, and no
    # two containers on one GPU at the same time.
    runs = _runs(log)
    assert len(runs) == 6
    gpu_of = {a.job: f"device={a.slot}" for a in timeline}
    for entry in runs:
        assert entry["gpu"] == gpu_of[entry["team"]]
    for i, a in enumerate(runs):
        for b in runs[i + 1:]:
            if a["start"] < b["end"] and b["start"] < a["end"]:
                assert a["gpu"] != b["gpu"], (a["team"], b["team"])
    # Stand-in containers wrote nothing: each team failed at scoring, recorded as complete.
    assert {r.status for r in outcome.results} == {"failed"}
    html = outcome.report["html"].read_text()
    assert "GPU timeline" in html


def test_finished_teams_are_resumed_unless_forced(world, fake_docker):
    docker, log = fake_docker
    run(_config(world, docker), log=lambda message: None)
    assert len(_runs(log)) == 6
    second = run(_config(world, docker), log=lambda message: None)
    assert second.resumed == ("alpha", "bravo", "charlie")
    assert len(_runs(log)) == 6  # nothing re-ran
    (world["submissions"] / "bravo" / "model.py").write_text("# bravo, changed\n")
    third = run(_config(world, docker), log=lambda message: None)
    assert third.resumed == ("alpha", "charlie")
    assert len(_runs(log)) == 8
    run(_config(world, docker, force=True), log=lambda message: None)
    assert len(_runs(log)) == 14


def test_docker_failure_is_the_runs_fault_and_retried(world, fake_docker, monkeypatch):
    docker, log = fake_docker
    monkeypatch.setenv("FAKE_DOCKER_RUN_RC", "125")
    outcome = run(_config(world, docker, teams=frozenset({"alpha"})), log=lambda message: None)
    (result,) = outcome.results
    assert result.status == "error" and "exit 125" in result.reason and not result.complete
    monkeypatch.setenv("FAKE_DOCKER_RUN_RC", "0")
    again = run(_config(world, docker, teams=frozenset({"alpha"})), log=lambda message: None)
    assert again.resumed == () and again.results[0].status == "failed"


def test_missing_image_stops_before_any_team(world, fake_docker, monkeypatch):
    docker, log = fake_docker
    monkeypatch.setenv("FAKE_DOCKER_IMAGE_RC", "1")
    with pytest.raises(ReproductionError, match="make docker"):
        run(_config(world, docker), log=lambda message: None)
    assert _runs(log) == []


def test_scheduler_timeline_alone():
    import threading
    import time

    busy: dict[str, int] = {}
    lock = threading.Lock()
    worst = []

    def work(job, slot):
        with lock:
            busy[slot] = busy.get(slot, 0) + 1
            worst.append(busy[slot])
        time.sleep(0.05)
        with lock:
            busy[slot] -= 1
        return job

    schedule = run_on_slots([f"t{i}" for i in range(5)], ["0", "1"], key=str, work=work)
    assert max(worst) == 1
    assert overlapping(schedule.timeline) == []
    assert sorted(schedule.results) == [f"t{i}" for i in range(5)]


def test_dry_run_prints_the_commands(world, capsys):
    from aiflash.cli import main

    code = main(["reproduce", "--submissions", str(world["submissions"]), "--data", str(world["data"]),
                 "--output-dir", str(world["out"]), "--gpus", "0,1", "--dry-run",
                 "--ingestion-program", str(world["programs"].ingestion),
                 "--scoring-program", str(world["programs"].scoring)])
    out = capsys.readouterr().out
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("docker run")]
    assert len(lines) == 6
    assert all("--network none" in line and "--cap-drop ALL" in line for line in lines)
    assert "--gpus device=0" in lines[0] and "--gpus device=1" in lines[2]
    assert not os.path.exists(world["out"] / "teams")
