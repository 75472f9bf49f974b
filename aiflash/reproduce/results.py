"""One team's reproduced result: read from what the two steps left behind, kept as
``teams/<team>/result.json`` (the resume marker: a complete record means the team is done).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import write_text
from ..ingestion.audit import Finding
from ..ingestion.record import read_ingestion
from .runners import StepOutcome, log_tail

RECORD_VERSION = 1
OK, FAILED, ERROR = "ok", "failed", "error"  # error: the run's fault (Docker, interrupt): retried


@dataclass(frozen=True)
class TeamResult:
    team: str
    status: str
    reason: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    images: int | None = None
    images_failed: int | None = None
    seconds_per_image: float | None = None
    device: str = ""
    guard_findings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rescale_verdicts: dict[str, int] = field(default_factory=dict)  # verdict -> images (ingestion.json)
    probe: dict = field(default_factory=dict)  # the resolution probe's verdict and curves (probe_summary)
    gpu: str | None = None
    runner: str = ""
    image: str | None = None
    submission_sha256: str = ""
    programs_sha256: str = ""  # the bundle the programs came from ("" for program folders)
    steps: dict[str, dict] = field(default_factory=dict)
    repeat: dict = field(default_factory=dict)  # repeats.summarise: determinism and timing
    started_at: str = ""
    finished_at: str = ""

    @property
    def complete(self) -> bool:
        return self.status in (OK, FAILED)

    @property
    def score(self) -> float | None:
        value = self.scores.get("Score")
        return float(value) if value is not None else None

    def to_json(self) -> dict:
        record = asdict(self)
        record["guard_findings"] = list(self.guard_findings)
        record["notes"] = list(self.notes)
        record["record_version"] = RECORD_VERSION
        return record

    @classmethod
    def from_json(cls, record: dict) -> TeamResult:
        fields = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        fields["guard_findings"] = tuple(fields.get("guard_findings", ()))
        fields["notes"] = tuple(fields.get("notes", ()))
        return cls(**fields)


def write_record(path: Path, result: TeamResult) -> None:
    """Atomic: a record is either absent or whole, so an interrupted run is simply redone."""
    write_text(path, json.dumps(result.to_json(), indent=2) + "\n")


def read_record(path: Path) -> TeamResult | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("record_version") != RECORD_VERSION:
            return None
        return TeamResult.from_json(record)
    except (OSError, ValueError, TypeError):
        return None


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _error_line(outcome: StepOutcome) -> str:
    """The step's own one-line reason: its last ``error:`` line, else its last non-empty line."""
    lines = [line.strip() for line in log_tail(outcome.log, 60)[1:] if line.strip()]
    for line in reversed(lines):
        if line.lower().startswith("error:"):
            return line[len("error:"):].strip()
    return lines[-1] if lines else "no output"


def _finite(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class IngestionSummary:
    """What the reproduction report needs from the ingestion program's ingestion.json."""

    images: int | None = None
    images_failed: int | None = None
    seconds_per_image: float | None = None
    device: str = ""
    guard_findings: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    rescale_verdicts: dict[str, int] = field(default_factory=dict)
    probe: dict = field(default_factory=dict)


def probe_summary(probe: dict | None) -> dict:
    """The part of ingestion.json's probe record a report shows: verdict, response, curves, reasons
    (the per-image measurements stay in ingestion.json)."""
    if not isinstance(probe, dict) or not probe.get("verdict"):
        return {}
    keep = ("verdict", "reasons", "flags", "response", "weakest", "responds_to", "frequencies", "curves",
            "alias", "spurious", "independence", "mismatch", "nondeterminism", "notes", "extra_calls",
            "model_s")
    summary = {key: probe.get(key) for key in keep}
    settings = probe.get("settings") or {}
    summary["response_min"] = settings.get("response_min")
    summary["limits"] = {key: settings.get(key) for key in ("response_min", "alias_max", "spurious_max",
                                                           "independence_min")}
    summary["images"] = [m.get("image") for m in probe.get("images") or [] if isinstance(m, dict)]
    return summary


def _finding_text(data: dict) -> str:
    """The audit's own one-line description of a finding, prefixed with its image and severity."""
    try:
        text = Finding.from_dict(data).describe()
    except (KeyError, TypeError, ValueError):
        text = ", ".join(f"{k}={v}" for k, v in data.items())
    image = data.get("image")
    severity = data.get("severity", "flag")
    return f"[{severity}] {image}: {text}" if image else f"[{severity}] {text}"


def summarise_ingestion(predictions: Path) -> IngestionSummary:
    """Read ingestion.json (``aiflash.ingestion.record``) from a prediction folder. A team's crash
    may leave it partial or absent; the report then says what is known."""
    summary = read_ingestion(predictions)
    if summary is None:
        return IngestionSummary()
    record = summary.record
    images = [e for e in record.get("images", []) if isinstance(e, dict) and "image" in e]
    model_times = [t for t in (_finite(e.get("model_s")) for e in images if e.get("status") == "ok")
                   if t is not None]
    mean = _finite(record.get("mean_model_s"))
    if mean is None and model_times:
        mean = sum(model_times) / len(model_times)
    environment = record.get("environment") or {}
    return IngestionSummary(
        images=len(images) if images else None,
        images_failed=len(summary.failed) if images else None,
        seconds_per_image=mean,
        device=str(environment.get("device_name") or environment.get("device") or ""),
        # Informational findings (what the rules allow) stay in ingestion.json, out of the report.
        guard_findings=tuple(dict.fromkeys(_finding_text(f) for f in summary.findings
                                           if f.get("severity", "flag") != "info")),
        failures=tuple(f"{stem}: {error}" for stem, error in summary.failed.items()),
        rescale_verdicts=dict(summary.verdicts) if images else {},
        probe=probe_summary(record.get("probe")),
    )


def collect(team: str, ingestion: StepOutcome, scoring: StepOutcome, predictions: Path,
            scoring_output: Path, hint: str = "", **context) -> TeamResult:
    """The team's result from its two steps' outcomes and files."""
    summary = summarise_ingestion(predictions)
    scores = _read_json(scoring_output / "scores.json") if scoring.succeeded else None
    scores = {k: v for k, v in (scores or {}).items() if _finite(v) is not None}
    # Ingestion's exit status: short in a failure reason (the scoring program's message already
    # names the failed images and why), with its own last error line in the notes.
    if ingestion.timed_out:
        ingestion_status = f"ingestion stopped at the runner's time limit after {ingestion.seconds:.0f} s"
        ingestion_note = ingestion_status
    elif ingestion.returncode != 0:
        ingestion_status = f"ingestion exited with code {ingestion.returncode}"
        ingestion_note = f"{ingestion_status}: {_error_line(ingestion)}"
    else:
        ingestion_status = ingestion_note = ""
    notes = [n for n in (ingestion_note, hint) if n]
    if "Score" in scores:
        status, reason = OK, ""
    else:
        status = FAILED
        if scoring.timed_out:
            reasons = [f"scoring stopped after {scoring.seconds:.0f} s", ingestion_note]
        elif scoring.returncode != 0:
            reasons = [f"scoring failed: {_error_line(scoring)}", ingestion_status]
        else:
            reasons = ["scoring wrote no Score to scores.json", ingestion_note]
        reasons = [r for r in reasons + [hint] if r]
        if summary.failures and not any(f.split(":")[0] in reasons[0] for f in summary.failures):
            reasons.append("ingestion failures: " + "; ".join(summary.failures[:5]))
        reason = "; ".join(reasons)
    return TeamResult(
        team=team, status=status, reason=reason, scores=scores, images=summary.images,
        images_failed=summary.images_failed, seconds_per_image=summary.seconds_per_image,
        device=summary.device, guard_findings=summary.guard_findings, notes=tuple(notes),
        rescale_verdicts=summary.rescale_verdicts, probe=summary.probe,
        steps={ingestion.name: ingestion.as_dict(), scoring.name: scoring.as_dict()}, **context,
    )
