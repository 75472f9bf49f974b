"""Teams in parallel, one per GPU: a team holds its GPU for both of its steps, and a GPU is
handed to the next team only when the previous one has finished with it.

Every hand-out is recorded (team, GPU, start, end), so the report and the tests can show that no
two teams ever shared a GPU. Across machines, use Codabench's own worker queue instead
(docs/organisers.md); this scheduler is deliberately single-host.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Assignment:
    """One team's tenure on one slot, in seconds since the schedule started."""

    job: str
    slot: str | None
    start: float
    end: float


@dataclass(frozen=True)
class Schedule(Generic[Result]):
    results: dict[str, Result]
    timeline: tuple[Assignment, ...]


def parse_gpus(text: str) -> tuple[str | None, ...]:
    """``"0,1"`` -> ("0", "1"); ``"none"``/``"cpu"``/``""`` -> (None,): one slot without a GPU.

    A GPU may be named by index or UUID (``GPU-…``), as ``docker run --gpus device=…`` accepts.
    """
    text = text.strip()
    if text.lower() in ("", "none", "cpu"):
        return (None,)
    gpus = tuple(part.strip() for part in text.split(","))
    if any(not g or any(c.isspace() or c in "=\"'" for c in g) for g in gpus):
        raise ValueError(f"bad GPU list {text!r}: use indices or UUIDs separated by commas, e.g. 0,1")
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"GPU list {text!r} names a GPU twice; each GPU runs one team at a time")
    return gpus


def run_on_slots(jobs: Sequence[Job], slots: Sequence[str | None], key: Callable[[Job], str],
                 work: Callable[[Job, str | None], Result],
                 on_interrupt: Callable[[], None] | None = None) -> Schedule[Result]:
    """Run ``work(job, slot)`` for every job, at most one job per slot at any time.

    Jobs start in order as slots free up. An exception in ``work`` propagates after the other
    running jobs finish (jobs not yet started are not started). On Ctrl-C, ``on_interrupt`` is
    called (to stop what runs) before waiting for the running jobs.
    """
    if not slots:
        raise ValueError("no slots to run on")
    free: queue.Queue[str | None] = queue.Queue()
    for slot in slots:
        free.put(slot)
    origin = time.monotonic()
    timeline: list[Assignment] = []
    results: dict[str, Result] = {}
    lock = threading.Lock()
    failed = threading.Event()

    def one(job: Job) -> None:
        if failed.is_set():
            return
        slot = free.get()
        start = time.monotonic() - origin
        try:
            result = work(job, slot)
        except BaseException:
            failed.set()
            raise
        finally:
            end = time.monotonic() - origin
            with lock:
                timeline.append(Assignment(key(job), slot, start, end))
            free.put(slot)
        with lock:
            results[key(job)] = result

    with ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="slot") as pool:
        futures = [pool.submit(one, job) for job in jobs]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            failed.set()
            if on_interrupt is not None:
                on_interrupt()
            raise
    return Schedule(results, tuple(sorted(timeline, key=lambda a: (a.start, a.job))))


def overlapping(timeline: Sequence[Assignment]) -> list[tuple[Assignment, Assignment]]:
    """Pairs of tenures on the same GPU that overlap in time (must be empty)."""
    clashes = []
    for i, a in enumerate(timeline):
        for b in timeline[i + 1:]:
            if a.slot is not None and a.slot == b.slot and a.start < b.end and b.start < a.end:
                clashes.append((a, b))
    return clashes
