"""``aiflash codabench rerun`` and ``status``: re-runs become new submissions (same owner; with
``Force_Last`` the newest is the leaderboard entry), followed until they stop changing."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import CodabenchError
from .client import TERMINAL, CodabenchClient
from .pull import phase_of


def rerun(client: CodabenchClient, competition: int, number: int, submissions: list[int] | None,
          confirm: Callable[[str], bool]) -> list[int]:
    """Re-run the given submissions of phase N (or all of it): the new submission ids."""
    phase = phase_of(client.competition(competition), number)
    phase_id, name = int(phase["id"]), phase.get("name")
    listed = {int(s["id"]): s for s in client.submissions(phase_id)}
    if submissions:
        foreign = [i for i in submissions if i not in listed]
        if foreign:
            raise CodabenchError(f"--submissions {', '.join(map(str, foreign))}: not submissions of phase "
                                 f"{number} ({name}) of competition {competition} that you may see.")
        question = (f"Re-run {len(submissions)} submission(s) of phase {number} ({name}) of competition "
                    f"{competition}: {', '.join(map(str, submissions))}?")
    else:
        parents = [i for i, s in listed.items() if not s.get("parent")]
        question = (f"Re-run every submission of phase {number} ({name}) of competition {competition} "
                    f"({len(parents)} without a parent)?")
    if not confirm(question + " Each becomes a new submission, run and scored again."):
        raise CodabenchError("not confirmed; nothing was re-run.")
    if submissions:
        return [client.re_run(i) for i in submissions]
    client.re_run_phase(phase_id)  # answers a count, not ids: they are the new ones in the list
    return sorted(int(s["id"]) for s in client.submissions(phase_id) if int(s["id"]) not in listed)


def status_line(record: dict) -> str:
    scores = {str(s.get("column_key")): s.get("score") for s in record.get("scores") or []}
    shown = f"Score {scores['Score']}" if "Score" in scores else ""
    details = record.get("status_details") if record.get("status") == "Failed" else ""
    return "  ".join(str(x) for x in (record.get("id"), record.get("owner"), record.get("status"), shown,
                                      details or "") if x != "").rstrip()


def follow(client: CodabenchClient, ids: list[int], wait: bool, poll_s: float, timeout_s: float,
           report: Callable[[str], None] = print) -> dict[int, str]:
    """Each submission's status (printed when it changes); with ``wait``, until all are final."""
    seen: dict[int, str] = {}
    started = time.monotonic()
    while True:
        for sid in ids:
            if seen.get(sid) in TERMINAL:
                continue
            record = client.submission(sid)
            if record.get("status") != seen.get(sid):
                seen[sid] = str(record.get("status"))
                report(status_line(record))
        if not wait or all(seen[s] in TERMINAL for s in ids):
            return seen
        if time.monotonic() - started > timeout_s:
            raise CodabenchError(f"still running after {timeout_s:g} s: "
                                 f"{', '.join(str(s) for s in ids if seen[s] not in TERMINAL)}.")
        time.sleep(poll_s)
