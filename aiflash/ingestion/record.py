"""``ingestion.json``: what the ingestion program writes beside the results, and what the scoring
program reads back from the prediction folder (Codabench passes nothing else between the jobs, and
ignores the ingestion's exit code, spec §2.8: so failures must be reported from here).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_text
from ..forensics import CLEAN, VERDICTS
from ..probe import BANDS, LOW, NOT_JUDGED, TOP

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


def probe_line(probe: dict) -> str:
    """One line for the log: the probe's verdict, what it measured and what it cost."""
    verdict = probe.get("verdict")
    cost = (f"{probe.get('extra_calls', 0)} extra model call(s), {probe.get('model_s', 0):.1f} s of model "
            f"time, {probe.get('wall_s', 0):.1f} s in all")
    if verdict in (None, NOT_JUDGED):
        why = "; ".join(probe.get("notes") or probe.get("failures") or []) or "nothing probed"
        return f"probe: not judged ({why}); {cost}"
    responds = probe.get("responds_to") or {}
    where = ", ".join(f"{axis} {value:.2f}" for axis, value in responds.items())
    text = (f"probe: {verdict} on {len(probe.get('images') or [])} image(s): responds up to {where} "
            f"cycles/px; weakest response at {TOP} cycles/px {probe.get('response', 0):.4f} of its "
            f"response at {LOW} ({probe.get('weakest')}); partner component {_value(probe.get('spurious'))}; "
            f"period-2 independence {_value(probe.get('independence'))}; "
            f"mismatch {probe.get('mismatch', 0):.2f}; {cost}")
    for reason in probe.get("reasons") or []:
        text += f"\n    probe: {reason}"
    for note in probe.get("notes") or []:
        text += f"\n    probe note: {note}"
    return text


_PLOT_GAINS = (1e-3, 3.0)  # the plot's log scale: from below a 2x reduction's leakage to sharpening


def transfer_plot(probe: dict, width: int = 300, height: int = 150) -> str:
    """The probe's measured transfer curves as a small inline SVG: gain relative to the first band,
    on a log scale, against cycles/px, one line per region and axis, the threshold (over the top
    band) and 0.25 cycles/px (a 2x reduction's Nyquist frequency) marked."""
    curves = probe.get("curves") or {}
    frequencies = probe.get("frequencies") or []
    if not curves or not frequencies:
        return ""
    left, bottom, top = 34, height - 22, 8
    right = width - 8
    low, high = (math.log10(g) for g in _PLOT_GAINS)

    def x(f):
        return left + (right - left) * f / 0.5

    def y(g):
        value = math.log10(min(max(g, _PLOT_GAINS[0]), _PLOT_GAINS[1]))
        return bottom - (bottom - top) * (value - low) / (high - low)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    parts = [f"<svg class='transfer-curve' xmlns='http://www.w3.org/2000/svg' width='{width}' "
             f"height='{height}' viewBox='0 0 {width} {height}' role='img' "
             f"aria-label='probe transfer curve'>",
             f"<rect x='{left}' y='{top}' width='{right - left}' height='{bottom - top}' fill='none' "
             f"stroke='#999'/>"]
    for g in (0.001, 0.01, 0.1, 1.0):
        parts.append(f"<text x='{left - 4}' y='{y(g) + 4:.1f}' font-size='9' text-anchor='end'>{g:g}</text>")
    for f in (0.0, 0.25, 0.5):
        parts.append(f"<text x='{x(f):.1f}' y='{bottom + 11}' font-size='9' "
                     f"text-anchor='middle'>{f:g}</text>")
    parts.append(f"<line x1='{x(0.25):.1f}' y1='{top}' x2='{x(0.25):.1f}' y2='{bottom}' stroke='#bbb' "
                 f"stroke-dasharray='3,3'/>")
    threshold = (probe.get("settings") or {}).get("response_min")
    if isinstance(threshold, (int, float)):
        parts.append(f"<line x1='{x(BANDS[-1][0]):.1f}' y1='{y(threshold):.1f}' x2='{right}' "
                     f"y2='{y(threshold):.1f}' stroke='#d62728' stroke-dasharray='2,2'/>")
    for i, (key, gains) in enumerate(sorted(curves.items())):
        points = " ".join(f"{x(f):.1f},{y(g):.1f}" for f, g in zip(frequencies, gains, strict=False)
                          if g is not None)
        colour = colours[i % len(colours)]
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{points}'>"
                     f"<title>{html.escape(key)}</title></polyline>")
        parts.append(f"<text x='{right - 4}' y='{top + 10 + 10 * i}' font-size='9' text-anchor='end' "
                     f"fill='{colour}'>{html.escape(key)}</text>")
    parts.append(f"<text x='{(left + right) / 2:.0f}' y='{height - 1}' font-size='9' text-anchor='middle'>"
                 f"cycles/px</text></svg>")
    return "".join(parts)


def probe_section(record: dict) -> str:
    """detailed_results.html's probe section: verdict, measures, cost and the transfer curve."""
    probe = record.get("probe")
    if not isinstance(probe, dict) or not probe.get("verdict"):
        return ""
    settings = probe.get("settings") or {}
    rows = [
        ("Verdict", probe.get("verdict")),
        ("Images probed", ", ".join(str(m.get("image")) for m in probe.get("images") or []) or "–"),
        ("Responds up to (cycles/px)",
         ", ".join(f"{k} {v:.2f}" for k, v in (probe.get("responds_to") or {}).items()) or "–"),
        (f"Weakest response at {TOP} cycles/px",
         f"{_value(probe.get('response'), digits=4)} ({probe.get('weakest') or '–'}); "
         f"threshold {_value(settings.get('response_min'), digits=4)}"),
        (f"Strongest partner component of a {TOP} cycles/px grating (share of its response)",
         f"{_value(probe.get('spurious'))} ({probe.get('spurious_at') or '–'}); "
         f"threshold {_value(settings.get('spurious_max'))}"),
        ("Period-2 independence (top-band response over its mirror, over the first band's leakage)",
         f"{_value(probe.get('independence'))} ({probe.get('independence_at') or '–'}); "
         f"threshold {_value(settings.get('independence_min'))}"),
        ("Mismatch away from the patterns (levels)", _value(probe.get("mismatch"))),
        ("Repeated runs differ by (levels)", _value(probe.get("nondeterminism"))),
        ("Cost", f"{probe.get('extra_calls', 0)} extra call(s), "
                 f"{_value(probe.get('model_s'), ' s')} model time"),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_value(v))}</td></tr>" for k, v in rows)
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in probe.get("reasons") or [])
    notes = "".join(f"<li class='muted'>{html.escape(n)}</li>" for n in probe.get("notes") or [])
    return (f"<h2>Resolution probe</h2><p class='muted'>The ingestion program added strong slanted gratings "
            f"to copies of a few inputs and measured the model's coherent response (the outputs of these "
            f"copies are never scored). A model that works at a reduced resolution cannot respond above "
            f"that resolution's Nyquist frequency (0.25 cycles/px for a 2x reduction). Its verdict applies "
            f"to every image.</p><table class='probe'>{table}</table>"
            f"{transfer_plot(probe)}<ul>{reasons}{notes}</ul>")


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
    parts = [f"<h2>Model run (ingestion)</h2><table>{table}</table>", _verdict_section(summary),
             probe_section(record)]
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
