"""The reproduction run: every team's code through ingestion then scoring, one team per GPU,
resumable, ending in the report (``<output>/reproduction.{csv,json,html}``).

Output layout::

    <output>/reproduction.csv|json|html
    <output>/teams/<team>/submission/    the unpacked code (read-only in its container)
                         /predictions/   ingestion output: <stem>.png + ingestion.json
                         /scoring/       scores.json, per_image_scores.csv, detailed_results.html
                         /logs/          ingestion.log, scoring.log (first line: the command)
                         /result.json    the team's record; complete => skipped next time
"""

from __future__ import annotations

import shutil
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import ReproductionError
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
                   started_at=_now())
    layout.record.unlink(missing_ok=True)
    for folder in (layout.submission, layout.predictions, layout.scoring, layout.logs, layout.scratch):
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

    try:
        stage(submission, layout.submission)
    except SubmissionUnusable as exc:
        return finish(TeamResult(team=submission.team, status=FAILED,
                                 reason=f"submission unusable: {exc}", finished_at=_now(), **context))
    steps = {}
    for build in (ingestion_step, scoring_step):
        step = build(submission.team, layout, config.data, config.programs, slot, config.timeout_s)
        outcome = runner.run(step)
        if outcome.infrastructure_error:
            return finish(TeamResult(team=submission.team, status=ERROR, reason=outcome.infrastructure_error,
                                     steps={outcome.name: outcome.as_dict()}, finished_at=_now(),
                                     **context))
        steps[step.name] = outcome
    return finish(collect(submission.team, steps["ingestion"], steps["scoring"], layout.predictions,
                          layout.scoring, hint=layout_hint(layout.submission), finished_at=_now(),
                          **context))


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


def _reusable(record: TeamResult | None, digest: str, runner: Runner) -> bool:
    return (record is not None and record.complete and record.submission_sha256 == digest
            and record.runner == runner.kind and record.image == runner.image)


def run(config: ReproductionConfig, log: Callable[[str], None] | None = None) -> ReproductionOutcome:
    """Reproduce every team, resume finished ones, write the report."""
    log = log or _Log()
    check_data(config.data)
    check_programs(config.programs)
    online = read_online_scores(config.online) if config.online else None
    submissions = discover(config.submissions, set(config.teams) if config.teams else None)
    config.runner.preflight()

    done: dict[str, TeamResult] = {}
    todo: list[tuple[TeamSubmission, str]] = []
    for submission in submissions:
        digest = submission.sha256()
        record = read_record(TeamLayout(config.output_dir / "teams" / submission.team).record)
        if not config.force and _reusable(record, digest, config.runner):
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
    table = build_table(ordered, online, config.tolerance)
    meta = {
        "created": _now(), "runner": config.runner.kind, "image": config.runner.image or "",
        "data": str(config.data.resolve()), "submissions": str(config.submissions.resolve()),
        "gpus": ",".join(s if s is not None else "cpu" for s in config.slots),
        "tolerance": config.tolerance, "online_leaderboard": str(config.online or ""),
        "resumed_teams": ", ".join(sorted(done)),
    }
    report = write_report(config.output_dir, table, meta, schedule.timeline)
    return ReproductionOutcome(ordered, tuple(sorted(done)), schedule.timeline, report)
