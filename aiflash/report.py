"""Outputs of a scoring run: scores.json (leaderboard), per_image_scores.csv and
detailed_results.html (one self-contained file: Codabench uploads it alone, so no relative links).
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import write_text
from .errors import StatisticsError
from .forensics import MEASURES
from .formula import ScoreBreakdown, compute_score
from .previews import ERROR_FULL_SCALE, ImagePreview
from .profile import Profile
from .stats.objective import score_interval

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


def write_scores_json(output_dir: Path, scores: dict[str, float]) -> Path:
    """Write scores.json; refuses non-finite or out-of-range values, which Codabench would drop
    silently (the submission would show no scores at all)."""
    bad = {k: v for k, v in scores.items() if not math.isfinite(v) or abs(v) >= _MAX_ABS}
    if bad:
        raise ValueError(f"refusing to write non-finite or out-of-range scores: {bad}")
    path = output_dir / SCORES_FILE
    write_text(path, json.dumps(scores, indent=2) + "\n")
    return path


def write_per_image_csv(output_dir: Path, per_image: pd.DataFrame) -> Path:
    path = output_dir / PER_IMAGE_FILE
    write_text(path, per_image.to_csv(index=False, float_format="%.6f"))
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


def html_page(title: str, body: str, css: str = "", script: str = "") -> str:
    """A complete, self-contained HTML page (inline CSS, no external resources).

    ``css`` is appended to the shared style sheet; ``script`` is inline JavaScript run at the end
    of the body.
    """
    script_html = f"<script>{script}</script>" if script else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}{css}</style></head>"
            f"<body>{body}{script_html}</body></html>\n")


def detailed_results_html(result_scores: dict[str, float], breakdown: ScoreBreakdown,
                          per_image: pd.DataFrame, profile: Profile, notes: list[str],
                          sections: list[str] | None = None,
                          previews: dict[str, ImagePreview] | None = None) -> str:
    """The per-submission report: summary, the formula's parts, the worst and best images (with
    ``previews``: thumbnails made during scoring, keyed by image stem), metric distributions,
    ``sections``, notes and the per-image table.

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
        + _score_interval_html(per_image, profile)
        + f"<p class='muted'>{len(per_image)} images · profile <b>{html.escape(profile.name)}</b>. "
        f"Score = {profile.score_offset:g} + {profile.score_scale:g} × Σ wₖ·cₖ over the components "
        f"below; wₖ = baseₖ·exp({profile.sensitivity:g}·(1−cₖ)), normalised.</p>"
        f"<h2>Summary</h2>{_table(summary)}"
        f"<h2>Normalised metrics</h2><div class='scroll'>{_table(parts)}</div>"
        f"<h2>Components and adaptive weights</h2>{_table(weights)}"
        + _showcase_html(per_image, breakdown, profile, previews or {})
        + _distributions_html(per_image, breakdown, profile)
        + content_check_html(per_image, profile)
        + "".join(sections or [])
        + notes_html
        + f"<h2>Per image</h2><div class='scroll'>{_table(per_image)}</div>"
    )
    return html_page("AI Flash Portrait — detailed results", body, css=_REPORT_CSS)


def _score_interval_html(per_image: pd.DataFrame, profile: Profile) -> str:
    """The Score's confidence interval over the images (issue 12), or nothing for one image."""
    try:
        low, high = score_interval(per_image, profile)
    except StatisticsError:
        return ""
    settings = profile.statistics
    return (f"<p class='muted' id='score-interval'>{settings.confidence:.0%} interval over the "
            f"{len(per_image)} images: <b>[{low:.4f}, {high:.4f}]</b> ({settings.resamples:,} "
            f"bootstrap resamples of the images, seed {settings.seed}): how far the Score could move "
            f"on another draw of test images like these.</p>")


def write_detailed_html(output_dir: Path, page: str) -> Path:
    path = output_dir / DETAILED_FILE
    write_text(path, page)
    return path


_MEASURE_TEXT = {  # what each content-check measure is, for the report (thresholds from the profile)
    "periodicity": "the strongest line of the output's pixel-difference spectrum at 0.2-0.5 cycles/px "
                   "above the input's (log10)",
    "offgrid_periodicity": "the same for lines away from the k/8 cycles/px lattice",
    "spectral_cliff": "how much more steeply the output's spectrum falls than the input's (log10 power "
                      "over 0.015 cycles/px)",
    "detail_coherence": "share of the input's 0.13-0.22 cycles/px detail that comes back (votes only with "
                        "a line above the off-lattice threshold)",
    "fold_independence": "how independently the output's detail just above a fold frequency answers the "
                         "input's detail at that frequency and mirrored below it (~1 when one reduced sample "
                         "makes both; 1000 when no fold carries a mirror term)",
    "hf_coherence": "share of the input's detail above 0.25 cycles/px that comes back",
}


# What a clean verdict of the passive check does not rule out (docs/forensics.md, "What it cannot see")
_CLEAN_IS_NOT_PROOF = ("A clean image is not proof: a reduction by a factor that is not a power of two "
                       "with a 3x3 median after the enlargement can leave neither lines nor a folded "
                       "dependence above the honest designs' level, a strong JPEG of a round trip hides "
                       "its folds among JPEG's own, and rotated sampling grids leave none. In code phases "
                       "the ingestion program's resolution probe judges the model itself; in the final "
                       "reproduction, Phase 2 results are compared with what the reproduced code makes.")


def content_check_html(per_image: pd.DataFrame, profile: Profile) -> str:
    """The content check of the scored results against their inputs (when the reference data holds
    the inputs): counts of each verdict and every image with its measures."""
    if "rescale_verdict" not in per_image.columns:
        return ""
    settings = profile.forensics
    counts = per_image["rescale_verdict"].value_counts()
    flagged = int(counts.get("flagged", 0))
    line = f"{int(counts.get('clean', 0))} clean, {flagged} flagged"
    badge = (f"<p><strong class='review-flag'>REVIEW: {flagged} image(s) flagged by the content check"
             f"</strong></p>" if flagged else "")
    columns = [c for c in ("image", "rescale_verdict", *MEASURES, "rescale_reasons")
               if c in per_image.columns]
    table = per_image[columns].sort_values("rescale_verdict", ascending=False, kind="stable")
    rules = []
    for measure in MEASURES:
        limit = settings.threshold(measure)
        side = "above" if settings.exceeds(measure, math.inf) else "below"  # a maximum or a minimum
        vote = f"flagged {side} {limit:g}" if measure in settings.voting else "reported, does not vote"
        rules.append(f"{measure} = {_MEASURE_TEXT[measure]} ({vote})")
    return (f"<h2>Content check (resampling forensics)</h2><p class='muted'>Each result against its "
            f"input: {html.escape('; '.join(rules))}. A flag asks the organisers to review the image; it "
            f"does not change the Score, and it says what was measured, not that a resize happened: "
            f"learned sub-pixel decoders leave lines too (docs/forensics.md). {_CLEAN_IS_NOT_PROOF} "
            f"Calibration: {html.escape(settings.false_flag_rate or 'not stated')}.</p>"
            f"<p class='content-check-counts'>{line}</p>{badge}"
            f"<div class='scroll'>{_table(table)}</div>")


# --- Worst and best images, metric distributions (issue 6) -------------------------------------

SHOWCASE = 5  # worst and best images shown


def score_contributions(per_image: pd.DataFrame, profile: Profile) -> pd.Series:
    """Each image's contribution to the Score: Score(all images) − Score(all but this one).

    Negative means the image pulls the Score down. NaN with fewer than two images."""
    keys = list(profile.ranges)
    values = per_image[keys].astype(float)
    if len(values) < 2:
        return pd.Series(np.nan, index=per_image.index)
    sums, counts = values.sum(skipna=True), values.notna().sum()
    full = compute_score({k: sums[k] / counts[k] for k in keys}, profile).score
    out = []
    for _, row in values.iterrows():
        means = {}
        for k in keys:
            n = counts[k] - (0 if np.isnan(row[k]) else 1)
            means[k] = (sums[k] - (0.0 if np.isnan(row[k]) else row[k])) / n if n else sums[k] / counts[k]
        out.append(full - compute_score(means, profile).score)
    return pd.Series(out, index=per_image.index)


def image_scores(per_image: pd.DataFrame, profile: Profile) -> pd.Series:
    """The Score formula applied to each image's own metrics (NaN where a metric is undefined)."""
    keys = list(profile.ranges)
    return pd.Series([
        compute_score(dict(row), profile).score if not any(np.isnan(v) for v in row.values()) else np.nan
        for row in per_image[keys].astype(float).to_dict("records")], index=per_image.index)


def _img(data: bytes | None, alt: str) -> str:
    if data is None:
        return f"<div class='noimg'>{html.escape(alt)}<br>not available</div>"
    encoded = base64.b64encode(data).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/jpeg;base64,{encoded}'>"


def _showcase_html(per_image: pd.DataFrame, breakdown: ScoreBreakdown, profile: Profile,
                   previews: dict[str, ImagePreview]) -> str:
    if len(per_image) < 2 or "image" not in per_image.columns:
        return ""
    contribution = score_contributions(per_image, profile)
    own = image_scores(per_image, profile)
    order = contribution.sort_values(kind="stable").index.tolist()
    count = min(SHOWCASE, len(order) // 2)
    has_input = any(p.input is not None for p in previews.values())

    def card(index, kind: str) -> str:
        row = per_image.loc[index]
        stem = str(row["image"])
        preview = previews.get(stem)
        metrics = " · ".join(f"{k} {float(row[k]):.4g}" for k in profile.ranges if pd.notna(row[k]))
        if preview is None:
            pictures = "<p class='muted'>no thumbnails for this image</p>"
        else:
            cells = [("Result", preview.result), ("Ground truth", preview.gt),
                     ("Error |result − GT|", preview.error)]
            if has_input:
                cells.insert(0, ("Input", preview.input))
            pictures = "<div class='thumbs'>" + "".join(
                f"<figure>{_img(data, name)}<figcaption>{name}</figcaption></figure>"
                for name, data in cells) + "</div>"
        return (f"<div class='case {kind}'><div class='case-head'><b>{html.escape(stem)}</b>"
                f"<span>contribution {contribution[index]:+.3f} · image Score {own[index]:.2f}</span></div>"
                f"{pictures}<p class='muted'>{html.escape(metrics)}</p></div>")

    worst = "".join(card(i, "worst") for i in order[:count])
    best = "".join(card(i, "best") for i in reversed(order[-count:]))
    return (
        "<h2>Worst and best images</h2>"
        "<p class='muted'>Contribution = Score of all images − Score without this image (negative: "
        "the image pulls the Score down). Image Score = the Score formula on this image alone. Heat "
        f"map: mean |result − GT| over RGB, bright at ≥ {ERROR_FULL_SCALE} levels; cyan outline = person "
        "mask.</p>"
        f"<h3>Worst: lowest contribution first</h3><div class='cases'>{worst}</div>"
        f"<h3>Best: highest contribution first</h3><div class='cases'>{best}</div>")


def _histogram_svg(values: np.ndarray, key: str, mean: float, low: float | None, high: float | None,
                   higher_is_better: bool | None) -> str:
    width, height, pad, bins = 280, 120, 22, 20
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        lo, hi = lo - 0.5 * (abs(lo) or 1) * 0.01, hi + 0.5 * (abs(hi) or 1) * 0.01
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    top = max(int(counts.max()), 1)
    bar_w = (width - 2 * pad) / bins
    bars = "".join(
        f"<rect x='{pad + i * bar_w:.1f}' y='{height - pad - (c / top) * (height - 2 * pad):.1f}' "
        f"width='{max(bar_w - 1, 1):.1f}' height='{(c / top) * (height - 2 * pad):.1f}' fill='#5b7bd5'/>"
        for i, c in enumerate(counts) if c)
    x_mean = pad + (mean - lo) / (hi - lo) * (width - 2 * pad)
    direction = "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")
    return (
        f"<figure class='hist'><svg viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"role='img' aria-label='distribution of {html.escape(key)}'>"
        f"<line x1='{pad}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' stroke='#8c959f'/>"
        f"{bars}<line x1='{x_mean:.1f}' y1='{pad - 6}' x2='{x_mean:.1f}' y2='{height - pad}' "
        f"stroke='#d1242f' stroke-dasharray='3 2'/>"
        f"<text x='{pad}' y='{height - 6}' font-size='10' fill='#57606a'>{lo:.4g}</text>"
        f"<text x='{width - pad}' y='{height - 6}' font-size='10' fill='#57606a' "
        f"text-anchor='end'>{hi:.4g}</text>"
        f"<text x='{x_mean:.1f}' y='{pad - 9}' font-size='10' fill='#d1242f' text-anchor='middle'>"
        f"mean {mean:.4g}</text></svg><figcaption>{html.escape(key)}{direction} · {len(values)} images"
        + (f" · Score range {low:g} … {high:g}" if low is not None else "") + "</figcaption></figure>")


def _distributions_html(per_image: pd.DataFrame, breakdown: ScoreBreakdown, profile: Profile) -> str:
    figures = []
    for key in (*profile.ranges, *profile.extra_metrics):
        if key not in per_image.columns:
            continue
        values = per_image[key].astype(float).dropna().to_numpy()
        if not len(values):
            continue
        r = profile.ranges.get(key)
        figures.append(_histogram_svg(values, key, float(values.mean()), r.low if r else None,
                                      r.high if r else None, r.higher_is_better if r else None))
    if not figures:
        return ""
    return ("<h2>Distributions</h2><p class='muted'>Per-image values; dashed line: the mean that enters "
            f"the Score.</p><div class='hists'>{''.join(figures)}</div>")


_REPORT_CSS = """
h3{font-size:.95rem;margin:1rem 0 .4rem}.cases{display:grid;gap:.8rem}
.case{border:1px solid #d0d7de;border-radius:8px;padding:.5rem .7rem}
.case.worst{border-left:4px solid #d1242f}.case.best{border-left:4px solid #1a7f37}
.case-head{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap;font-size:.9rem}
.case-head span{color:#57606a;font-variant-numeric:tabular-nums}
.thumbs{display:flex;gap:.5rem;flex-wrap:wrap;margin:.4rem 0 0}.thumbs figure{margin:0}
.thumbs img{display:block;max-width:240px;height:auto;border-radius:4px}
.thumbs figcaption{font-size:.75rem;color:#57606a}
.noimg{width:160px;height:120px;display:flex;align-items:center;justify-content:center;text-align:center;
background:#f6f8fa;color:#8c959f;font-size:.75rem;border-radius:4px}
.hists{display:flex;flex-wrap:wrap;gap:1rem 1.5rem}.hist{margin:0;width:280px}
.hist figcaption{font-size:.8rem;color:#57606a}
.hist svg{max-width:100%;height:auto}
"""
