"""``aiflash codabench-run``: a submission through a built bundle, as Codabench would run it.

The bundle zip is unpacked like the site's ``unpack_competition`` (extractall, competition.yaml at
the root, every rule checked), each dataset a task names is turned into what the worker downloads
(a folder is zipped with its contents at the root, as ``zip_if_directory`` does, then unzipped), and
the submission goes through ``worker.run_submission``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..archives import safe_extract
from ..errors import BundleError
from .competition import effective_time_limit, is_code_phase, phase, phase_task
from .validate import DEFAULT_QUEUE_TIME_CAP, errors, load_yaml, validate_bundle
from .worker import ContainerRun, SubmissionResult, TaskFiles, leaderboard_row, run_submission


@dataclass(frozen=True)
class PhaseSetup:
    """Everything about one phase that a run and its report need."""

    number: int
    name: str
    code: bool
    limit: int
    task: TaskFiles
    board: dict
    detailed_results: bool


def unpack_bundle(bundle: Path, target: Path) -> dict:
    """Extract the bundle and refuse it, listing every problem, where Codabench would refuse it."""
    safe_extract(bundle, target, error=lambda message: BundleError(
        f"{message} (Codabench says \"Bad zip file uploaded.\")"))
    competition, problems = load_yaml(target)
    problems = problems if competition is None else validate_bundle(target)
    if errors(problems):
        listed = "; ".join(str(p) for p in errors(problems))
        raise BundleError(f"{bundle}: Codabench would refuse this bundle: {listed}")
    return competition


def materialise(root: Path, value: str, target: Path) -> Path:
    """A dataset path from the yaml, as the worker receives it (zipped by the site, unzipped here)."""
    source = root / value
    if source.is_dir():
        archive = shutil.make_archive(str(target) + ".upload", "zip", source)
        source = Path(archive)
    if not source.is_file():
        raise BundleError(f"{value}: not in the bundle (a dataset key on Codabench cannot be simulated).")
    safe_extract(source, target, error=lambda message: BundleError(
        f"{value}: {message} (the worker would fail with \"Bad or empty zip file\")"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def setup_phase(root: Path, competition: dict, number: int, workdir: Path,
                cap: int = DEFAULT_QUEUE_TIME_CAP) -> PhaseSetup:
    chosen = phase(competition, number)
    task = phase_task(competition, chosen)
    keys = ("scoring_program", "ingestion_program", "input_data", "reference_data")
    files = {key: materialise(root, task[key], workdir / "datasets" / key) for key in keys if key in task}
    return PhaseSetup(
        number=number,
        name=str(chosen.get("name")),
        code=is_code_phase(competition, chosen),
        limit=effective_time_limit(competition, chosen, cap),
        task=TaskFiles(name=str(task.get("name")), **files),
        board=(competition.get("leaderboards") or [{}])[0],
        detailed_results=bool(competition.get("enable_detailed_results")),
    )


def simulate(bundle: Path, submission: Path, number: int, workdir: Path,
             cap: int = DEFAULT_QUEUE_TIME_CAP) -> tuple[PhaseSetup, SubmissionResult]:
    root = workdir / "bundle"
    competition = unpack_bundle(bundle, root)
    setup = setup_phase(root, competition, number, workdir, cap)
    result = run_submission(setup.task, submission, workdir / "run", setup.limit, setup.detailed_results)
    return setup, result


def _describe(run: ContainerRun) -> str:
    name = "submission" if run.kind == "program" else "ingestion"
    if run.action != "ran":
        return f"  {name}: {run.action}"
    line = f"  {name}: ran `{run.command}` -> exit {run.returncode} in {run.elapsed:.1f} s"
    if run.returncode:
        line += f"\n    last error line: {run.last_error_line()}"
    return line


def report_lines(setup: PhaseSetup, result: SubmissionResult) -> list[str]:
    """The human summary: jobs, status, and the leaderboard row Codabench would display."""
    kind = "code submissions" if setup.code else "result submissions"
    lines = [f"{setup.name} (phase {setup.number}: {kind}, {setup.limit} s per job)"]
    lines.append(f"Prediction job ({result.prediction.elapsed:.1f} s):")
    lines += [_describe(run) for run in result.prediction.runs]
    if setup.code and any(run.kind == "program" and run.action == "copied into output"
                          for run in result.prediction.runs):
        lines.append("  (no metadata file in the zip: the worker copied all of it, weights included, into "
                     "the prediction output; a `metadata` file with a description and no command avoids it)")
    if any(run.returncode for run in result.prediction.runs):
        lines.append("  (Codabench does not check prediction exit codes: scoring runs on whatever was "
                     "written)")
    if result.prediction.failed_after_scoring_queued:
        lines.append(f"  then: {result.prediction.failure} (the worker had already reported \"Scoring\", "
                     f"so the scoring job was queued)")
    if result.scoring and result.scoring.runs:
        lines.append(f"Scoring job ({result.scoring.elapsed:.1f} s):")
        lines += [_describe(run).replace("submission:", "scoring program:") for run in result.scoring.runs]
    if result.scoring and result.scoring.failure and not result.scoring.runs:
        lines.append(f"Scoring job: failed: {result.scoring.failure}")
    if "Execution Time Limit exceeded" in result.reason:
        lines.append("  (Codabench may instead let the job run on: its alarm is lost when it fires while "
                     "the worker streams container logs; the ingestion program's own time budget is the "
                     "limit that reliably produces a report)")
    lines.append(f"Status: {result.status}" + (f": {result.reason}" if result.reason else ""))
    if result.status == "Finished" and result.scoring is None:
        lines.append("Scoring job: not run (no ground truth in the data given, so no Score)")
    elif result.status == "Finished":
        if result.scores is None:
            lines.append(f"No scores would be shown: {result.scores_note}")
        lines.append("Leaderboard row:")
        lines += [f"  {title:<24} {value}" for title, value in leaderboard_row(setup.board, result.scores)]
        if result.detailed_results:
            lines.append(f"Detailed results: {result.detailed_results.name} written by the scoring program")
    return lines
