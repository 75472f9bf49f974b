"""``ingestion.json``: what the ingestion program writes beside the results, and what the scoring
program reads back from the prediction folder (Codabench passes nothing else between the jobs, and
ignores the ingestion's exit code, spec §2.8: so failures must be reported from here).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_text
from ..forensics import CLEAN, VERDICTS

INGESTION_FILE = "ingestion.json"
_MAX_FINDING_ROWS = 200
RECORD_FORMAT = "aiflash-ingestion/1"


def write_record(output_dir: Path, record: dict) -> Path:
    path = output_dir / INGESTION_FILE
    write_text(path, json.dumps(record, indent=1) + "\n")
    return path


@dataclass(frozen=True)
class IngestionSummary:
    """The parts of an ingestion record the scoring program uses."""

    record: dict
    failed: dict[str, str]  # stem -> the model's error, for images without a result
    findings: list[dict]
    verdicts: dict[str, int]  # rescale verdict -> number of images (clean, flagged, rejected)


def read_ingestion(prediction_dir: Path) -> IngestionSummary | None:
    """The ingestion record in a prediction folder, or None (a result submission, or a record
    that is not ours or unreadable: then scoring proceeds on the files alone)."""
    path = prediction_dir / INGESTION_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None
    images = [e for e in record.get("images", []) if isinstance(e, dict) and "image" in e]
    unfinished = "not finished: the ingestion program stopped before this image (see the prediction log)"
    failed = {str(e["image"]): str(e.get("error") or unfinished).rstrip(".")
              for e in images if e.get("status") != "ok"}
    findings = [f for f in record.get("guard_findings", []) if isinstance(f, dict)]
    return IngestionSummary(record, failed, findings, verdict_counts(record))


def verdict_counts(record: dict) -> dict[str, int]:
    """Images per rescale verdict; records written before verdicts existed count as all clean."""
    counts = record.get("rescale_verdicts")
    if isinstance(counts, dict):
        return {v: int(counts.get(v, 0)) for v in VERDICTS}
    images = [e for e in record.get("images", []) if isinstance(e, dict)]
    return {v: sum((e.get("rescale_verdict") or CLEAN) == v for e in images) for v in VERDICTS}


def _value(value, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}{unit}"
    return f"{value}{unit}"


def ingestion_sections(summary: IngestionSummary) -> list[str]:
    """HTML fragments for detailed_results.html: the model run and the resampling audit."""
    import pandas as pd

    record = summary.record
    env = record.get("environment") or {}
    rows = [
        ("Device", env.get("device_name") or env.get("device")),
        ("torch / CUDA / cuDNN",
         f"{env.get('torch')} / {env.get('cuda') or '–'} / {env.get('cudnn') or '–'}"),
        ("API", record.get("api")),
        ("Images restored", f"{record.get('images_ok')} of {record.get('images_total')}"),
        ("Mean model time per image", _value(record.get("mean_model_s"), " s")),
        ("Peak GPU memory", _value(record.get("peak_gpu_memory_mb"), " MB", 5)),
        ("Total ingestion time", _value(record.get("total_s"), " s", 4)),
        ("Model starts", record.get("worker_starts")),
        ("Rescaling policy", record.get("policy")),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_value(v))}</td></tr>" for k, v in rows)
    parts = [f"<h2>Model run (ingestion)</h2><table>{table}</table>", _verdict_section(summary)]
    order = {"reject": 0, "flag": 1}
    findings = sorted(summary.findings, key=lambda f: order.get(f.get("severity"), 2))
    if findings:
        shown = findings[:_MAX_FINDING_ROWS]
        more = (f" The first {_MAX_FINDING_ROWS} of {len(findings)} are shown; all are in ingestion.json."
                if len(findings) > len(shown) else "")
        frame = pd.DataFrame([{
            "image": f.get("image") or "(all images)", "severity": f.get("severity", "flag"),
            "kind": f.get("kind", ""), "function": f.get("function"),
            "direction": f.get("direction"), "channels": f.get("channels"),
            "from (HxW)": "x".join(map(str, f.get("input_size", []))),
            "to (HxW)": "x".join(map(str, f.get("output_size", []))),
            "caller": f.get("caller"), "calls": f.get("count"), "meaning": f.get("note", ""),
        } for f in shown])
        policy = "a proven round trip fails its image (policy: reject)"
        if record.get("policy") == "flag":
            policy = "a proven round trip is recorded and flagged (policy: flag)"
        parts.append(f"<h2>Resampling audit</h2><p class='muted'>Resampling calls to or from the input's "
                     f"size, with the file:line that made them. Severity info: allowed by the rules "
                     f"(reductions for statistics or guidance, feature maps); flag: for the organisers' "
                     f"review; reject: {html.escape(policy)}.{html.escape(more)}</p>"
                     + frame.to_html(index=False, border=0, escape=True))
    else:
        parts.append("<h2>Resampling audit</h2><p class='muted'>No resampling to or from the input's size "
                     "was seen.</p>")
    return parts


def _verdict_section(summary: IngestionSummary) -> str:
    """The rescale verdicts: counts, and every image that is not clean with its evidence."""
    import pandas as pd

    counts = summary.verdicts
    line = ", ".join(f"{counts[v]} {v}" for v in VERDICTS)
    review = counts["flagged"] + counts["rejected"]
    badge = (f"<p><strong class='review-flag'>REVIEW: {review} image(s) flagged or rejected</strong></p>"
             if review else "")
    images = [e for e in summary.record.get("images", []) if isinstance(e, dict)
              and (e.get("rescale_verdict") or CLEAN) != CLEAN]
    table = ""
    if images:
        table = pd.DataFrame([{
            "image": e.get("image"), "verdict": e.get("rescale_verdict"), "audit": e.get("audit_verdict"),
            "content check": e.get("content_verdict") or "–",
            "measures": ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in (e.get("measures") or {}).items()),
            "reasons": "; ".join(e.get("reasons") or []),
        } for e in images]).to_html(index=False, border=0, escape=True, classes="rescale-verdicts")
    return (f"<h2>Rescaling verdicts</h2><p class='muted'>Each image: the worse of the resampling audit "
            f"(calls in the code) and the content check (the output's pixels against its input). "
            f"Flagged images are reviewed by the organisers; the content check alone never rejects.</p>"
            f"<p>{html.escape(line)}</p>{badge}{table}")
