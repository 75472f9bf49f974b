"""Reading a parsed competition.yaml the way Codabench does: phase order, tasks, time limits."""

from __future__ import annotations

from ..errors import BundleError
from .validate import DEFAULT_QUEUE_TIME_CAP, MODEL_DEFAULT_TIME_LIMIT


def ordered_phases(competition: dict) -> list[dict]:
    """Phases in Codabench's order: a stable sort on ``index``; phase N is the N-th (1-based) here."""
    return sorted(competition.get("phases") or [], key=lambda p: p.get("index", 0))


def phase(competition: dict, number: int) -> dict:
    phases = ordered_phases(competition)
    if not 1 <= number <= len(phases):
        names = "; ".join(f"{i} = {p.get('name')}" for i, p in enumerate(phases, start=1))
        raise BundleError(f"--phase {number}: the competition has {len(phases)} phase(s) ({names}).")
    return phases[number - 1]


def phase_task(competition: dict, chosen: dict) -> dict:
    """The phase's task (this simulation, like our bundle, runs phases of exactly one task)."""
    tasks = {t.get("index"): t for t in competition.get("tasks") or []}
    indexes = chosen.get("tasks") or []
    if len(indexes) != 1 or indexes[0] not in tasks:
        raise BundleError(f"phase {chosen.get('name')!r}: expected exactly one known task, got {indexes}; "
                          f"the simulation runs one task per phase.")
    return tasks[indexes[0]]


def is_code_phase(competition: dict, chosen: dict) -> bool:
    """Code submissions need a task with an ingestion program; result phases have none (§3)."""
    return "ingestion_program" in phase_task(competition, chosen)


def effective_time_limit(competition: dict, chosen: dict, cap: int = DEFAULT_QUEUE_TIME_CAP) -> int:
    """Seconds each job gets: the phase's limit, capped on the default queue (§2.7)."""
    limit = chosen.get("execution_time_limit") or MODEL_DEFAULT_TIME_LIMIT
    return limit if competition.get("queue") else min(cap, limit)
