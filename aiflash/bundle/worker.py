"""A local stand-in for Codabench's compute worker (codabench.md §0, §2, §3).

A submission goes through two jobs, each in a fresh directory laid out like the worker's
(``program/``, ``ingestion_program/``, ``input_data/``, ``input/ref``, ``input/res``, ``output/``,
``shared/``), with one execution-time budget per job:

* prediction job: the submission zip is unzipped into ``program/``. Without a metadata file it is
  copied into ``output/`` (a result submission; a code submission without one is copied too,
  weights included); the task's ingestion program runs on it (a code submission). Exit codes are
  not checked. The worker then reports "Scoring" (which queues the scoring job), writes
  ``output/metadata`` and zips ``output/``: that zip is all the scoring job receives. Nothing
  creates ``output/`` but the copy or a container's mount, so a result zip with a command-less
  ``metadata`` file (nothing copied, nothing run) fails there with "Metadata file not found", and
  the already queued scoring job fails on the never-uploaded zip.
* scoring job: the scoring program runs on ``input/ref`` (reference data) and ``input/res`` (the
  unzipped prediction output). A non-zero exit, a time-out or a missing scores file fails the
  submission; otherwise scores.json is read as the worker reads it and mapped onto columns.

Containers are replaced by subprocesses. A program's ``metadata.yaml`` command is run like the
worker runs it (legacy ``$input``-style placeholders replaced, ``shlex.split``, no shell, cwd =
the program folder), with three substitutions, because there is no ``/app`` here:

1. ``python``/``python3`` as the first word becomes the interpreter running this code (the image's
   Python has the same locked packages);
2. any argument that is, or starts with, a mount point (``/app/output``, ``/app/input/ref``, ...)
   is rewritten to the job folder mounted there;
3. our programs take their mount points as options whose defaults are the ``/app`` paths
   (``INGESTION_OPTIONS``, ``SCORING_OPTIONS``); those options are appended with the job folders,
   so the programs see exactly what they would see under ``/app``.

``PYTHONPATH`` is removed from the environment, so programs use the aiflash copy beside them.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..archives import safe_extract
from .validate import METADATA_NAMES

# The worker's replace_legacy_metadata_command, for the cases we run (no ingestion during scoring).
LEGACY_PLACEHOLDERS = (
    ("$input", {"ingestion": "/app/input_data", "program": "/app/input"}),
    ("$output", "/app/output"),
    ("$program", "/app/program"),
    ("$ingestion_program", "/app/program"),
    ("$hidden", "/app/input/ref"),
    ("$shared", "/app/shared"),
    ("$submission_program", "/app/ingested_program"),
    ("$tmp", "/app/output"),
    ("$predictions", {"scoring": "/app/input/res", "prediction": "/app/output"}),
)
INGESTION_OPTIONS = {"--input-dir": "/app/input_data", "--submission-dir": "/app/ingested_program",
                     "--output-dir": "/app/output"}
SCORING_OPTIONS = {"--reference-dir": "/app/input/ref", "--prediction-dir": "/app/input/res",
                   "--output-dir": "/app/output"}
METADATA_EXISTS = ("Error, the output directory already contains a metadata file. This file is used to "
                   "store exitCode and other data, do not write to this file manually.")
NO_SCORES_FILE = "Could not find scores file, did the scoring program output it?"
METADATA_NOT_FOUND = "Metadata file not found"
BAD_ZIP = "Bad or empty zip file"
DOWNLOAD_TRIES, DOWNLOAD_RETRY_S = 10, 20  # Run._get_bundle: a bad or missing zip is fetched again
MAX_SCORE = 1e10  # SubmissionScore.score is Decimal(20, 10)
_POLL = 0.05


@dataclass(frozen=True)
class TaskFiles:
    """One task's unzipped programs and data, as the worker downloads them."""

    name: str
    scoring_program: Path
    ingestion_program: Path | None = None
    input_data: Path | None = None
    reference_data: Path | None = None


@dataclass
class ContainerRun:
    """One "container": a program folder run (or copied) inside a job."""

    kind: str  # "program" (submission or scoring program) or "ingestion"
    action: str  # "ran", "copied into output", "skipped: ...", "error: ..."
    command: str = ""  # as written in metadata.yaml
    argv: list[str] = field(default_factory=list)  # as run here
    returncode: int | None = None
    elapsed: float | None = None
    stdout: str = ""
    stderr: str = ""

    def last_error_line(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else "(no output on stderr)"


@dataclass
class JobResult:
    name: str  # "prediction" or "scoring"
    root: Path
    runs: list[ContainerRun] = field(default_factory=list)
    failure: str | None = None
    elapsed: float = 0.0
    # push_output failed: the worker had already reported "Scoring", so the scoring job runs anyway.
    failed_after_scoring_queued: bool = False


@dataclass
class SubmissionResult:
    status: str  # "Finished" or "Failed", as Codabench would show it
    reason: str  # why it failed, or "" when finished
    prediction: JobResult
    scoring: JobResult | None = None
    scores: dict[str, float] | None = None  # what would reach the leaderboard
    scores_note: str = ""  # why a Finished submission would show no scores
    detailed_results: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status == "Finished" and self.scores is not None


class _TimeLimit(Exception):
    pass


class SubmissionFailed(Exception):
    """The worker would mark the submission Failed with this message."""


def unzip(archive: Path, target: Path) -> None:
    """The worker's extraction (ZipFile.extractall), through the package's checked extractor so a
    zip bomb or an escaping path is refused here too; a bad zip fails the submission."""
    safe_extract(archive, target, error=lambda message: SubmissionFailed(f"{BAD_ZIP}: {message}"))
    target.mkdir(parents=True, exist_ok=True)


def program_command(folder: Path, kind: str) -> tuple[str, str | None]:
    """(what the worker does with a program folder, its command): §2.4, in the worker's order."""
    found = next((name for name in METADATA_NAMES if (folder / name).exists()), None)
    if found is None:
        if kind == "program":
            return "copied into output", None
        return "error: Program directory missing 'metadata.yaml/metadata'", None
    try:
        metadata = yaml.load((folder / found).read_text(errors="replace"), Loader=yaml.FullLoader)
    except yaml.YAMLError:
        metadata = None
    command = metadata.get("command") if isinstance(metadata, dict) else None
    if not command:
        if kind == "ingestion":
            return "error: Program directory missing 'command' in metadata", None
        return f"skipped: {found} has no command (nothing copied into output)", None
    return "ran", str(command)


def build_argv(command: str, kind: str, job: str, mounts: dict[str, Path],
               options: dict[str, str] | None) -> list[str]:
    """The worker's command line for one container, mapped onto local folders (module docstring)."""
    for placeholder, value in LEGACY_PLACEHOLDERS:
        if isinstance(value, dict):
            value = value.get(kind, value.get(job, ""))
        command = command.replace(placeholder, value)
    argv = shlex.split(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    by_length = sorted(mounts, key=len, reverse=True)

    def mapped(arg: str) -> str:
        prefix, sep, value = arg.partition("=") if arg.startswith("-") and "=" in arg else ("", "", arg)
        for mount in by_length:
            if value == mount or value.startswith(mount + "/"):
                return prefix + sep + str(mounts[mount]) + value[len(mount):]
        return arg

    argv = [mapped(arg) for arg in argv]
    for option, mount in (options or {}).items():
        argv += [option, mapped(mount)]
    return argv


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _run_containers(specs: list[tuple[ContainerRun, Path]], deadline: float, logs: Path) -> None:
    """Start every container at once (the worker's asyncio.gather) and wait for all, or the deadline."""
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    for run, cwd in specs:
        out = (logs / f"{run.kind}.stdout").open("wb")
        err = (logs / f"{run.kind}.stderr").open("wb")
        started = time.monotonic()
        try:
            process = subprocess.Popen(run.argv, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                       env=_environment(), start_new_session=True)
        except OSError as exc:  # in a container: "exec: not found", the container exits 127
            out.close()
            err.close()
            run.returncode, run.elapsed = 127, 0.0
            run.stderr = f"{run.argv[0]}: cannot be executed ({exc.strerror or exc})"
            continue
        running.append((run, process, started, out, err))
    try:
        while any(process.poll() is None for _, process, *_ in running):
            if time.monotonic() > deadline:
                for _, process, *_ in running:
                    _stop(process)
                raise _TimeLimit
            time.sleep(_POLL)
    finally:
        for run, process, started, out, err in running:
            out.close()
            err.close()
            run.returncode = process.returncode
            run.elapsed = time.monotonic() - started
            run.stdout = (logs / f"{run.kind}.stdout").read_text(errors="replace")
            run.stderr = (logs / f"{run.kind}.stderr").read_text(errors="replace")


def _copy_dataset(source: Path | None, target: Path) -> None:
    if source is not None:
        shutil.copytree(source, target)


def _time_limit_message(limit: int) -> str:
    """What Codabench shows when its alarm stops a job. Its worker arms one SIGALRM per job; the
    exception it raises is caught (and only logged) by the broad ``except Exception`` around
    container log streaming and waiting, so a job whose alarm fires there runs on until its
    containers exit. This simulation always stops at the limit: it shows the outcome that loses the
    outputs, which the ingestion program's own time budget (below the limit) avoids."""
    return f"Execution Time Limit exceeded. Limit was {limit} seconds"


def prediction_job(task: TaskFiles, submission: Path, root: Path, limit: int) -> JobResult:
    """Unzip the submission into program/, run (or copy) it and the ingestion program, zip output/."""
    job = JobResult("prediction", root)
    root.mkdir(parents=True)
    unzip(submission, root / "program")
    _copy_dataset(task.ingestion_program, root / "ingestion_program")
    _copy_dataset(task.input_data, root / "input_data")
    output = root / "output"
    mounts = {"/app/program": root / "program", "/app/output": output, "/app/data": root / "data",
              "/app/input_data": root / "input_data"}
    started = time.monotonic()
    specs = []
    action, command = program_command(root / "program", "program")
    program = ContainerRun("program", action, command or "")
    job.runs.append(program)
    if action == "copied into output":
        shutil.copytree(root / "program", output)  # the worker's copytree, before ingestion starts
    elif command:
        program.argv = build_argv(command, "program", "prediction", mounts, None)
        specs.append((program, root / "program"))
    if task.ingestion_program is not None:
        action, command = program_command(root / "ingestion_program", "ingestion")
        ingestion = ContainerRun("ingestion", action, command or "")
        job.runs.append(ingestion)
        if command:
            ingestion_mounts = dict(mounts, **{"/app/program": root / "ingestion_program",
                                               "/app/ingested_program": root / "program"})
            ingestion.argv = build_argv(command, "ingestion", "prediction", ingestion_mounts,
                                        INGESTION_OPTIONS)
            specs.append((ingestion, root / "ingestion_program"))
    if specs:  # the worker's _get_host_path creates every mounted folder, output/ included
        output.mkdir(exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    try:
        _run_containers(specs, started + limit, root / "logs")
    except _TimeLimit:
        job.failure = _time_limit_message(limit)
    job.elapsed = time.monotonic() - started
    if job.failure is None:
        _write_worker_metadata(job, output)
    if job.failure is None:
        shutil.make_archive(str(root / "prediction_result"), "zip", output)
    return job


def _write_worker_metadata(job: JobResult, output: Path) -> None:
    """push_output: the worker's own ``metadata`` file; one already there fails the submission."""
    runs = {run.kind: run for run in job.runs if run.action == "ran"}
    program, ingestion = runs.get("program"), runs.get("ingestion")
    status = {
        "exitCode": program.returncode if program else None,
        "elapsedTime": (program.elapsed if program else None) or (ingestion.elapsed if ingestion else None),
        "ingestionExitCode": ingestion.returncode if ingestion else None,
        "ingestionElapsedTime": ingestion.elapsed if ingestion else None,
    }
    if (output / "metadata").exists():
        job.failure = METADATA_EXISTS
    elif not output.is_dir():  # nothing was copied there and no container mounted it
        job.failure = METADATA_NOT_FOUND
    else:
        (output / "metadata").write_text(yaml.dump(status, default_flow_style=False))
        return
    job.failed_after_scoring_queued = job.name == "prediction"


def read_scores(output: Path) -> object:
    """push_scores: the parsed scores file, or SubmissionFailed, as the worker does."""
    scores_json, scores_txt = output / "scores.json", output / "scores.txt"
    if scores_json.exists():
        try:
            return json.loads(scores_json.read_text())
        except json.JSONDecodeError as exc:
            raise SubmissionFailed("Could not decode scores json properly, it contains an error.\n"
                                   + exc.msg) from exc
    if scores_txt.exists():
        return yaml.load(scores_txt.read_text(), Loader=yaml.Loader)
    raise SubmissionFailed(NO_SCORES_FILE)


def accepted_scores(parsed: object) -> tuple[dict[str, float] | None, str]:
    """What Codabench's upload view would store; otherwise why the submission shows no scores."""
    if not isinstance(parsed, dict):
        return None, f"scores file holds a {type(parsed).__name__}, not a flat object (HTTP 500, ignored)"
    for key, value in parsed.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"score {key!r} is {value!r}, not a number (HTTP 500, ignored by the worker)"
        if not math.isfinite(value):
            return None, f"score {key!r} is {value}; requests refuses to send NaN/Infinity"
        if abs(value) >= MAX_SCORE:
            return None, f"score {key!r} = {value} does not fit Codabench's Decimal(20, 10)"
    return {k: float(v) for k, v in parsed.items()}, ""


def scoring_job(task: TaskFiles, prediction_zip: Path, root: Path, limit: int,
                detailed_results: bool) -> tuple[JobResult, dict | None, Path | None]:
    """Run the scoring program on input/ref + input/res; returns the job, parsed scores, html."""
    job = JobResult("scoring", root)
    root.mkdir(parents=True)
    shutil.copytree(task.scoring_program, root / "program")
    _copy_dataset(task.reference_data, root / "input" / "ref")
    unzip(prediction_zip, root / "input" / "res")
    (root / "shared").mkdir()
    (root / "data").mkdir()
    output = root / "output"
    mounts = {"/app/program": root / "program", "/app/output": output, "/app/input": root / "input",
              "/app/shared": root / "shared", "/app/data": root / "data"}
    started = time.monotonic()
    action, command = program_command(root / "program", "program")
    run = ContainerRun("program", action, command or "")
    job.runs.append(run)
    if action == "copied into output":
        shutil.copytree(root / "program", output)
        if detailed_results:  # the watcher waits for a program that never "completes" (§2.11)
            job.failure = _time_limit_message(limit) + " (scoring program has no metadata file)"
    output.mkdir(exist_ok=True)
    if command:
        run.argv = build_argv(command, "program", "scoring", mounts, SCORING_OPTIONS)
        try:
            _run_containers([(run, root / "program")], started + limit, root / "logs")
        except _TimeLimit:
            job.failure = _time_limit_message(limit)
    job.elapsed = time.monotonic() - started
    if job.failure is None and run.returncode not in (None, 0):
        job.failure = f"scoring program exited with code {run.returncode}: {run.last_error_line()}"
    if job.failure:
        return job, None, None
    try:
        parsed = read_scores(output)
    except SubmissionFailed as exc:
        job.failure = str(exc)
        return job, None, None
    html = output / "detailed_results.html"
    html = html if html.exists() else next(iter(sorted(output.glob("*.html"))), None)
    _write_worker_metadata(job, output)
    return job, parsed, html


def run_submission(task: TaskFiles, submission: Path, workdir: Path, limit: int,
                   detailed_results: bool = True, score: bool = True) -> SubmissionResult:
    """Both jobs for one submission, with Codabench's final status."""
    try:
        prediction = prediction_job(task, submission, workdir / "prediction", limit)
    except SubmissionFailed as exc:
        return SubmissionResult("Failed", str(exc), JobResult("prediction", workdir / "prediction"))
    if prediction.failed_after_scoring_queued:
        scoring = JobResult("scoring", workdir / "scoring", failure=(
            f"{BAD_ZIP} (prediction_result.zip was never uploaded; the worker downloads it "
            f"{DOWNLOAD_TRIES} times, {DOWNLOAD_RETRY_S} s apart, before giving up)"))
        return SubmissionResult("Failed", f"{prediction.failure} (prediction job), then {BAD_ZIP} "
                                          f"(scoring job)", prediction, scoring)
    if prediction.failure:
        return SubmissionResult("Failed", prediction.failure, prediction)
    if not score:
        return SubmissionResult("Finished", "", prediction, scores_note="not scored (no ground truth)")
    scoring, parsed, html = scoring_job(task, workdir / "prediction" / "prediction_result.zip",
                                        workdir / "scoring", limit, detailed_results)
    if scoring.failure:
        return SubmissionResult("Failed", scoring.failure, prediction, scoring)
    scores, note = accepted_scores(parsed)
    return SubmissionResult("Finished", "", prediction, scoring, scores, note,
                            html if detailed_results else None)


def leaderboard_row(board: dict, scores: dict[str, float] | None) -> list[tuple[str, str]]:
    """(column title, displayed value) in column order: keys without a column are dropped, columns
    without a score show n/a, values are rounded to the column's precision (default 2)."""
    columns = sorted((c for c in board.get("columns") or [] if isinstance(c, dict)),
                     key=lambda c: c.get("index", 0))
    by_index = {c.get("index"): (scores or {}).get(c.get("key")) for c in columns}
    row = []
    for column in columns:
        value = by_index[column.get("index")]
        if column.get("computation"):
            parts = [by_index.get(i) for i in column.get("computation_indexes") or []]
            if parts and all(p is not None for p in parts):
                reduce = {"avg": lambda v: sum(v) / len(v), "sum": sum, "min": min, "max": max}
                value = reduce[column["computation"]](parts)
        title = str(column.get("title")) + (" (hidden)" if column.get("hidden") else "")
        shown = "n/a" if value is None else f"{value:.{column.get('precision', 2)}f}"
        row.append((title, shown))
    return row
