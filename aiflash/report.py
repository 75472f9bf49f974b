"""Outputs of a scoring run: scores.json (leaderboard), per_image_scores.csv and
detailed_results.html (one self-contained file: Codabench uploads it alone, so no relative links).
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

import pandas as pd

from .formula import ScoreBreakdown
from .profile import Profile

# Keys of scores.json; the leaderboard's column keys must be among them (Codabench drops others).
LEADERBOARD_KEYS = ("Score", "GlobalScore", "LPIPS_person", "DeltaE_person", "PSNR_bg", "SSIM_global")
SCORES_FILE = "scores.json"
PER_IMAGE_FILE = "per_image_scores.csv"
DETAILED_FILE = "detailed_results.html"
_MAX_ABS = 1e10  # Codabench stores scores as Decimal(20, 10)


def leaderboard_scores(breakdown: ScoreBreakdown, extra_means: dict[str, float]) -> dict[str, float]:
    """The flat {column key: float} object Codabench maps onto leaderboard columns."""
    scores = {"Score": breakdown.score, "GlobalScore": breakdown.global_score}
    scores.update({k: breakdown.means[k] for k in LEADERBOARD_KEYS[2:]})
    scores.update(extra_means)
    return {k: float(v) for k, v in scores.items()}


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_scores_json(output_dir: Path, scores: dict[str, float]) -> Path:
    """Write scores.json; refuses non-finite or out-of-range values, which Codabench would drop
    silently (the submission would show no scores at all)."""
    bad = {k: v for k, v in scores.items() if not math.isfinite(v) or abs(v) >= _MAX_ABS}
    if bad:
        raise ValueError(f"refusing to write non-finite or out-of-range scores: {bad}")
    path = output_dir / SCORES_FILE
    _atomic_write(path, json.dumps(scores, indent=2) + "\n")
    return path


def write_per_image_csv(output_dir: Path, per_image: pd.DataFrame) -> Path:
    path = output_dir / PER_IMAGE_FILE
    _atomic_write(path, per_image.to_csv(index=False, float_format="%.6f"))
    return path


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#1b1f24;
max-width:1200px}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right}
th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}
.score{font-size:2rem;font-weight:600}.muted{color:#57606a;font-size:.85rem}
.scroll{overflow-x:auto}.notes li{font-size:.85rem}
"""


def _table(frame: pd.DataFrame, floatfmt: str = "{:.4f}") -> str:
    return frame.to_html(index=False, border=0, na_rep="–",
                         float_format=lambda v: floatfmt.format(v), escape=True)


def html_page(title: str, body: str) -> str:
    """A complete, self-contained HTML page (inline CSS, no external resources)."""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
            f"<body>{body}</body></html>\n")


def detailed_results_html(result_scores: dict[str, float], breakdown: ScoreBreakdown,
                          per_image: pd.DataFrame, profile: Profile, notes: list[str],
                          sections: list[str] | None = None) -> str:
    """The per-submission report: summary, the formula's parts, the per-image table.

    ``sections`` are extra HTML fragments (ingestion summary, guard findings) placed before the
    per-image table.
    """
    summary = pd.DataFrame({"metric": list(result_scores), "value": list(result_scores.values())})
    parts = pd.DataFrame({
        "metric": list(profile.ranges),
        "mean": [breakdown.means[k] for k in profile.ranges],
        "range": [f"{r.low:g} … {r.high:g} ({'higher' if r.higher_is_better else 'lower'} is better)"
                  for r in profile.ranges.values()],
        "normalised": [breakdown.normalised[k] for k in profile.ranges],
        f"normalised^{profile.exponent:g}": [breakdown.mapped[k] for k in profile.ranges],
    })
    weights = pd.DataFrame({
        "component": list(breakdown.components),
        "value": list(breakdown.components.values()),
        "base weight": [profile.base_weights[k] for k in breakdown.components],
        "adaptive weight": [breakdown.weights[k] for k in breakdown.components],
    })
    notes_html = ("<h2>Notes</h2><ul class='notes'>"
                  + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>") if notes else ""
    body = (
        "<h1>AI Flash Portrait — detailed results</h1>"
        f"<div class='score'>Score {breakdown.score:.4f}</div>"
        f"<p class='muted'>{len(per_image)} images · profile <b>{html.escape(profile.name)}</b>. "
        f"Score = {profile.score_offset:g} + {profile.score_scale:g} × Σ wₖ·cₖ over the components "
        f"below; wₖ = baseₖ·exp({profile.sensitivity:g}·(1−cₖ)), normalised.</p>"
        f"<h2>Summary</h2>{_table(summary)}"
        f"<h2>Normalised metrics</h2><div class='scroll'>{_table(parts)}</div>"
        f"<h2>Components and adaptive weights</h2>{_table(weights)}"
        + "".join(sections or [])
        + notes_html
        + f"<h2>Per image</h2><div class='scroll'>{_table(per_image)}</div>"
    )
    return html_page("AI Flash Portrait — detailed results", body)


def write_detailed_html(output_dir: Path, page: str) -> Path:
    path = output_dir / DETAILED_FILE
    _atomic_write(path, page)
    return path
