"""The reproduction run: every team's code through ingestion then scoring, one team per GPU,
resumable, ending in the report (``<output>/reproduction.{csv,json,html}``).

Output layout::

    <output>/reproduction.csv|json|html
    <output>/programs/<bundle sha256>/   the bundle's ingestion and scoring programs (--bundle)
    <output>/teams/<team>/submission/    a private, writable copy of the code (fresh for each run)
                         /predictions/   ingestion output: <stem>.png + ingestion.json
                         /repeats/run<k>/predictions/   runs 2..N of --repeat N
                         /online/        the team's online outputs, unpacked (--online-outputs)
                         /consistency.csv|json   reproduced vs online outputs, per image
                         /scoring/       scores.json, per_image_scores.csv, detailed_results.html
                         /logs/          ingestion.log, scoring.log (first line: the command)
                         /result.json    the team's record; complete => skipped next time
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..profile import OutputConsistency
from .consistency import NO_ONLINE, TeamConsistency, compare_outputs, find_online_outputs, pair_preview
from .errors import ReproductionError
from .programs import BundlePrograms, check_versions, probe_version
from .repeats import summarise
from .report import build_table, read_online_scores, write_report
from .results import ERROR, FAILED, TeamResult, collect, read_record, write_record
from .runners import Runner
from .schedule import Assignment, run_on_slots
from .steps import DATA_GT, DATA_INPUT, DATA_MASK, Programs, TeamLayout, ingestion_step, scoring_step
from .submissions import SubmissionUnusable, TeamSubmission, discover, layout_hint, stage

DEFAULT_TIMEOUT_S = 4 * 3600.0


@dataclass(frozen=True)
class ReproductionConfig:
    submissions: Path
    data: Path
    output_dir: Path
    programs: Programs
    runner: Runner
    slots: tuple[str | None, ...]
    tolerance: float = 0.5
    force: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    online: Path | None = None
    teams: frozenset[str] | None = None
    bundle: BundlePrograms | None = None  # None: program folders given directly (development)
    allow_version_mismatch: bool = False
    online_outputs: Path | None = None
    repeat: int = 1
    rules: OutputConsistency = field(default_factory=OutputConsistency)

    @property
    def programs_sha256(self) -> str:
        return self.bundle.sha256 if self.bundle else ""


@dataclass(frozen=True)
class ReproductionOutcome:
    results: tuple[TeamResult, ...]
    resumed: tuple[str, ...]
    timeline: tuple[Assignment, ...]
    report: dict[str, Path]


def check_data(data: Path) -> None:
    missing = [name for name in (DATA_INPUT, DATA_GT, DATA_MASK) if not (data / name).is_dir()]
    if missing:
        raise ReproductionError(f"{data}: the hidden phase data must hold input/, gt/ and "
                                f"mask_personmask/; missing {', '.join(m + '/' for m in missing)}.")


def check_programs(programs: Programs) -> None:
    for folder, script in ((programs.ingestion, "ingestion.py"), (programs.scoring, "score.py")):
        if not folder.is_dir() or not any(folder.glob("*.py")):
            raise ReproductionError(f"{folder}: program folder not found or holds no Python file "
                                    f"(expected e.g. {script}); pass --ingestion-program / "
                                    f"--scoring-program.")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _Log:
    def __init__(self, stream=None) -> None:
        self._lock = threading.Lock()
        self._stream = stream or sys.stderr

    def __call__(self, message: str) -> None:
        with self._lock:
            print(message, file=self._stream, flush=True)


def _slot_name(slot: str | None) -> str:
    return f"GPU {slot}" if slot is not None else "CPU"


def reproduce_team(config: ReproductionConfig, submission: TeamSubmission, slot: str | None,
                   digest: str, log: Callable[[str], None]) -> TeamResult:
    """Both steps for one team on one slot; writes and returns the team's record."""
    runner = config.runner
    layout = TeamLayout(config.output_dir / "teams" / submission.team)
    context = dict(gpu=slot, runner=runner.kind, image=runner.image, submission_sha256=digest,
                   programs_sha256=config.programs_sha256, started_at=_now())
    layout.record.unlink(missing_ok=True)
    for folder in (layout.submission, layout.predictions, layout.scoring, layout.logs, layout.scratch,
                   layout.repeats):
        if folder.exists():
            shutil.rmtree(folder)
    for folder in (layout.predictions, layout.scoring, layout.logs):
        folder.mkdir(parents=True)
    log(f"[{_slot_name(slot)}] {submission.team}: started")

    def finish(result: TeamResult) -> TeamResult:
        write_record(layout.record, result)
        shown = f"Score {result.score:.4f}" if result.score is not None else result.reason[:200]
        log(f"[{_slot_name(slot)}] {submission.team}: {result.status} ({shown})")
        return result

    steps = {}
    for run_number in range(1, config.repeat + 1):
        try:  # every run starts from the submission as uploaded, as every Codabench job does
            stage(submission, layout.submission)
        except SubmissionUnusable as exc:
            return finish(TeamResult(team=submission.team, status=FAILED,
                                     reason=f"submission unusable: {exc}", finished_at=_now(), **context))
        layout.run_predictions(run_number).mkdir(parents=True, exist_ok=True)
        step = ingestion_step(submission.team, layout, config.data, config.programs, slot, config.timeout_s,
                              run=run_number)
        outcome = runner.run(step)
        if outcome.infrastructure_error:
            return finish(TeamResult(team=submission.team, status=ERROR, reason=outcome.infrastructure_error,
                                     steps={outcome.name: outcome.as_dict()}, finished_at=_now(),
                                     **context))
        steps.setdefault(step.name, outcome)  # run 1 is the one scored
        if config.repeat > 1:
            log(f"[{_slot_name(slot)}] {submission.team}: ingestion run {run_number}/{config.repeat} done")
    step = scoring_step(submission.team, layout, config.data, config.programs, slot, config.timeout_s)
    outcome = runner.run(step)
    if outcome.infrastructure_error:
        return finish(TeamResult(team=submission.team, status=ERROR, reason=outcome.infrastructure_error,
                                 steps={outcome.name: outcome.as_dict()}, finished_at=_now(), **context))
    steps[step.name] = outcome
    result = collect(submission.team, steps["ingestion"], steps["scoring"], layout.predictions,
                     layout.scoring, hint=layout_hint(layout.submission), finished_at=_now(), **context)
    outputs = [layout.run_predictions(k) for k in range(1, config.repeat + 1)]
    return finish(replace(result, repeat=summarise(submission.team, outputs, config.rules)))


def reproduce_team_safely(config: ReproductionConfig, submission: TeamSubmission, slot: str | None,
                          digest: str, log: Callable[[str], None]) -> TeamResult:
    """:func:`reproduce_team`, but a fault of this run (full disk, a bug of ours) becomes an
    ``error`` record for that team, retried next time, instead of stopping every other team."""
    try:
        return reproduce_team(config, submission, slot, digest, log)
    except (ReproductionError, OSError, ValueError, RuntimeError) as exc:
        layout = TeamLayout(config.output_dir / "teams" / submission.team)
        detail = "".join(traceback.format_exception(exc))
        try:
            layout.logs.mkdir(parents=True, exist_ok=True)
            (layout.logs / "reproduce-error.log").write_text(detail, encoding="utf-8")
        except OSError:
            pass
        log(f"[{_slot_name(slot)}] {submission.team}: error ({type(exc).__name__}: {exc})")
        return TeamResult(team=submission.team, status=ERROR, reason=f"{type(exc).__name__}: {exc}",
                          gpu=slot, runner=config.runner.kind, image=config.runner.image,
                          submission_sha256=digest, finished_at=_now())


def _reusable(record: TeamResult | None, digest: str, config: ReproductionConfig) -> bool:
    return (record is not None and record.complete and record.submission_sha256 == digest
            and record.runner == config.runner.kind and record.image == config.runner.image
            and record.programs_sha256 == config.programs_sha256
            and record.repeat.get("runs", 1) == config.repeat)


def check_online_outputs(config: ReproductionConfig, team: str) -> tuple[TeamConsistency, tuple | None]:
    """The team's reproduced result images against its online ones (``--online-outputs``), written
    to ``teams/<team>/consistency.{csv,json}``; and thumbnails of the worst pair for the report."""
    layout = TeamLayout(config.output_dir / "teams" / team)
    source = find_online_outputs(config.online_outputs, team)
    if source is None:
        return TeamConsistency(team, "", (), NO_ONLINE), None
    try:
        stage(TeamSubmission(team, source), layout.online)
    except SubmissionUnusable as exc:
        return TeamConsistency(team, f"{source} (unusable: {exc})", (), NO_ONLINE), None
    result = compare_outputs(team, layout.predictions, layout.online, config.rules, source=str(source))
    frame = [{"image": c.image, "verdict": c.verdict, "psnr_db": c.psnr_db, "max_abs_diff": c.max_abs_diff,
              "note": c.note} for c in result.images]
    layout.root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(frame, columns=["image", "verdict", "psnr_db", "max_abs_diff", "note"]).to_csv(
        layout.root / "consistency.csv", index=False)
    (layout.root / "consistency.json").write_text(
        json.dumps({**result.as_dict(), "per_image": frame}, indent=1) + "\n", encoding="utf-8")
    preview = pair_preview(layout.predictions, layout.online, result.worst[0]) if result.worst else None
    return result, preview


def run(config: ReproductionConfig, log: Callable[[str], None] | None = None) -> ReproductionOutcome:
    """Reproduce every team, resume finished ones, write the report."""
    log = log or _Log()
    check_data(config.data)
    check_programs(config.programs)
    online = read_online_scores(config.online) if config.online else None
    submissions = discover(config.submissions, set(config.teams) if config.teams else None)
    config.runner.preflight()
    versions = {}
    if config.bundle is not None:
        argv, where = config.runner.version_probe()
        image_version = probe_version(argv, where)
        note = check_versions(config.bundle, image_version, where, config.allow_version_mismatch)
        if note:
            log(f"warning: {note}")
        versions = {"bundle": str(config.bundle.bundle.resolve()), "bundle_sha256": config.bundle.sha256,
                    "bundle_aiflash_version": config.bundle.version, "image_aiflash_version": image_version,
                    "version_check": note or "same version"}
    if config.online_outputs is not None and not config.online_outputs.is_dir():
        raise ReproductionError(f"{config.online_outputs}: --online-outputs must be a folder holding one "
                                f"<team>.zip (prediction_result.zip, renamed) or <team>/ per team.")

    done: dict[str, TeamResult] = {}
    todo: list[tuple[TeamSubmission, str]] = []
    for submission in submissions:
        digest = submission.sha256()
        record = read_record(TeamLayout(config.output_dir / "teams" / submission.team).record)
        if not config.force and _reusable(record, digest, config):
            done[submission.team] = record
        else:
            if record is not None and record.complete and record.submission_sha256 != digest:
                log(f"{submission.team}: submission changed since the last run; recomputing")
            todo.append((submission, digest))
    if done:
        log(f"resuming: {len(done)} team(s) already reproduced ({', '.join(sorted(done))}); "
            f"--force recomputes them")
    log(f"reproducing {len(todo)} team(s) on {', '.join(_slot_name(s) for s in config.slots)} "
        f"with the {config.runner.kind} runner")

    schedule = run_on_slots(
        todo, config.slots, key=lambda job: job[0].team,
        work=lambda job, slot: reproduce_team_safely(config, job[0], slot, job[1], log),
        on_interrupt=config.runner.cancel,
    )
    results = {**done, **schedule.results}
    ordered = tuple(results[s.team] for s in submissions)
    consistency, previews = {}, {}
    if config.online_outputs is not None:
        for result in ordered:
            consistency[result.team], preview = check_online_outputs(config, result.team)
            if preview is not None:
                previews[result.team] = preview
    table = build_table(ordered, online, config.tolerance, consistency)
    meta = {
        "created": _now(), "runner": config.runner.kind, "image": config.runner.image or "",
        **versions,
        "programs": (f"bundle {config.bundle.bundle.name}" if config.bundle else
                     f"folders {config.programs.ingestion}, {config.programs.scoring} (not a bundle)"),
        "online_outputs": str(config.online_outputs or ""), "repeat": config.repeat,
        "data": str(config.data.resolve()), "submissions": str(config.submissions.resolve()),
        "gpus": ",".join(s if s is not None else "cpu" for s in config.slots),
        "tolerance": config.tolerance, "online_leaderboard": str(config.online or ""),
        "resumed_teams": ", ".join(sorted(done)),
    }
    report = write_report(config.output_dir, table, meta, schedule.timeline, ordered, consistency, previews,
                          config.rules)
    return ReproductionOutcome(ordered, tuple(sorted(done)), schedule.timeline, report)
