"""The reproduction report: reproduced vs online Score per team, as CSV, JSON and one
self-contained HTML page (inline CSS, no external resources)."""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..atomic import write_text
from ..ingestion.record import transfer_plot
from ..probe import TOP
from ..report import LEADERBOARD_KEYS, html_page
from .errors import ReproductionError
from .results import ERROR, FAILED, OK, TeamResult
from .schedule import Assignment
from .sections import (
    CONSISTENCY_COLUMNS,
    REPEAT_COLUMNS,
    consistency_columns,
    consistency_html,
    repeat_columns,
    repeats_html,
)

REPORT_STEM = "reproduction"
MISSING = "missing"
TEAM_COLUMNS = ("team", "team_name", "teamname", "participant", "username", "user", "submitter")
METRIC_KEYS = LEADERBOARD_KEYS[1:]  # Score has its own columns
COLUMNS = ("team", "status", "flag", "Score", "online_Score", "difference", "discrepancy",
           *METRIC_KEYS, "images", "images_failed", "seconds_per_image", "device", "gpu",
           "review", "rescale_clean", "rescale_flagged", "rescale_rejected", "probe", "probe_response",
           "probe_responds_to", "guard_findings", "reason",
           *CONSISTENCY_COLUMNS, *REPEAT_COLUMNS)


def _key(team: str) -> str:
    return " ".join(team.split()).casefold()


def read_online_scores(path: Path) -> dict[str, tuple[str, float]]:
    """The online leaderboard export: a CSV with a team column and a ``Score`` column.

    Returns {normalised team name: (name as written, Score)}; names match case- and
    space-insensitively.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            header = [h for h in (rows[0].keys() if rows else []) if h is not None]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReproductionError(f"{path}: cannot read the online leaderboard CSV ({exc}).") from exc
    lower = {h.strip().lower(): h for h in header}
    team_col = next((lower[c] for c in TEAM_COLUMNS if c in lower), None)
    score_col = lower.get("score")
    if not rows or team_col is None or score_col is None:
        raise ReproductionError(
            f"{path}: expected a header with a team column ({', '.join(TEAM_COLUMNS)}) and a Score "
            f"column, and at least one row; found columns {header}.")
    scores: dict[str, tuple[str, float]] = {}
    for line, row in enumerate(rows, start=2):
        team = (row.get(team_col) or "").strip()
        text = (row.get(score_col) or "").strip()
        if not team:
            raise ReproductionError(f"{path}:{line}: empty team name.")
        try:
            score = float(text)
        except ValueError:
            raise ReproductionError(f"{path}:{line}: Score {text!r} of {team!r} is not a number.") from None
        if not math.isfinite(score):
            raise ReproductionError(f"{path}:{line}: Score of {team!r} is not finite.")
        if _key(team) in scores:
            raise ReproductionError(f"{path}:{line}: team {team!r} appears twice; keep one row per team "
                                    f"(the leaderboard's ranked submission).")
        scores[_key(team)] = (team, score)
    return scores


def _flag(status: str, difference: float | None, tolerance: float, online_given: bool,
          has_online: bool) -> str:
    if status == MISSING:
        return "NO SUBMISSION"
    if status == ERROR:
        return "NOT RUN"
    if status == FAILED:
        return "FAILED"
    if difference is not None and abs(difference) > tolerance:
        return "DISCREPANCY"
    if online_given and not has_online:
        return "NO ONLINE SCORE"
    return ""


def review_flag(verdicts: dict[str, int], probe: dict | None = None) -> str:
    """The organisers' review flag of a team from its images' rescale verdicts, or ""; a flag of the
    resolution probe says what it measured (it flags every image)."""
    flagged, rejected = int(verdicts.get("flagged", 0)), int(verdicts.get("rejected", 0))
    if not flagged and not rejected:
        return ""
    text = f"REVIEW: {flagged} flagged, {rejected} rejected image(s)"
    if (probe or {}).get("verdict") == "flagged":
        text += f"; probe: responds up to {_responds(probe) or '–'} cycles/px"
        breached = _breached(probe)
        if breached:
            text += f" ({', '.join(breached)})"
    return text


def _breached(probe: dict) -> list[str]:
    """The checks that flagged the probe (its ``flags``), in a few words each and, for a measure,
    its value against its threshold (the reasons say more)."""
    limits = probe.get("limits") or {}
    measures = {"response": ("response_min", "<", f"response at {TOP} cycles/px"),
                "alias": ("alias_max", ">", "period-2 alias"),
                "spurious": ("spurious_max", ">", "partner frequency"),
                "independence": ("independence_min", "<", "period-2 independence")}
    words = {"mismatch": "probe outputs differ from the scored one away from the patterns",
             "failure": "failed on a probe input"}
    breached = []
    for flag in dict.fromkeys(probe.get("flags") or []):
        if flag in measures:
            limit, side, text = measures[flag]
            value, threshold = probe.get(flag), limits.get(limit)
            known = isinstance(value, (int, float)) and isinstance(threshold, (int, float))
            breached.append(f"{text} {value:.3g} {side} {threshold:g}" if known else text)
        elif flag in words:
            breached.append(words[flag])
    return breached


def build_table(results: Sequence[TeamResult], online: dict[str, tuple[str, float]] | None,
                tolerance: float, consistency: dict | None = None) -> pd.DataFrame:
    """One row per team (reproduced, or only on the online leaderboard), flagged rows first.
    ``consistency``: team -> consistency.TeamConsistency (``--online-outputs``), its own flag."""
    rows = []
    seen = set()
    for result in results:
        entry = (online or {}).get(_key(result.team))
        seen.add(_key(result.team))
        online_score = entry[1] if entry else None
        score = result.score if result.status == OK else None
        difference = score - online_score if score is not None and online_score is not None else None
        rows.append({
            "team": result.team, "status": result.status,
            "flag": _flag(result.status, difference, tolerance, online is not None, entry is not None),
            "Score": score, "online_Score": online_score, "difference": difference,
            "discrepancy": difference is not None and abs(difference) > tolerance,
            **{k: result.scores.get(k) for k in METRIC_KEYS},
            "images": result.images, "images_failed": result.images_failed,
            "seconds_per_image": result.seconds_per_image, "device": result.device,
            "gpu": result.gpu if result.gpu is not None else "",
            "review": review_flag(result.rescale_verdicts, result.probe),
            **{f"rescale_{v}": result.rescale_verdicts.get(v) for v in ("clean", "flagged", "rejected")},
            "probe": result.probe.get("verdict") or "", "probe_response": result.probe.get("response"),
            "probe_responds_to": _responds(result.probe),
            "guard_findings": "; ".join(result.guard_findings), "reason": result.reason,
            **consistency_columns((consistency or {}).get(result.team)), **repeat_columns(result),
        })
    for key, (team, online_score) in (online or {}).items():
        if key not in seen:
            rows.append({"team": team, "status": MISSING,
                         "flag": _flag(MISSING, None, tolerance, True, True),
                         "online_Score": online_score, "discrepancy": False, "review": "",
                         "reason": "on the online leaderboard but no code submission was given"})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("model_parameters", "runs", "nondeterministic_images", "run_to_run_max_abs_diff",
                   "outputs_max_abs_diff"):
        table[column] = table[column].astype("Int64")
    table["_order"] = ((table["flag"] == "") & (table["review"].fillna("") == "")
                       & (table["outputs_flag"].fillna("") == "")).astype(int)
    return table.sort_values(["_order", "team"], kind="stable").drop(columns="_order").reset_index(drop=True)


def _responds(probe: dict) -> str:
    """'horizontal 0.49, vertical 0.49' (cycles/px): where the probe found the model responding."""
    return ", ".join(f"{axis} {value:.2f}" for axis, value in (probe.get("responds_to") or {}).items())


def probe_html(results: Sequence[TeamResult]) -> str:
    """The resolution probe per team: its verdict, the frequency up to which the model responds and
    its measured transfer curves (a small plot each)."""
    probed = [r for r in results if r.probe]
    if not probed:
        return ""
    cells = []
    for result in probed:
        probe = result.probe
        plot = transfer_plot({**probe, "settings": {"response_min": probe.get("response_min")}}, 260, 130)
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in probe.get("reasons") or [])
        notes = "".join(f"<li class='muted'>{html.escape(n)}</li>" for n in probe.get("notes") or [])
        verdict = probe.get("verdict") or ""
        team = html.escape(result.team)
        cells.append(
            f"<figure class='probe-team{' flag' if verdict == 'flagged' else ''}' data-team='{team}'>"
            f"<figcaption><b>{team}</b>: {html.escape(verdict)}; responds up to "
            f"{html.escape(_responds(probe) or '–')} cycles/px</figcaption>{plot}"
            f"<ul>{reasons}{notes}</ul></figure>")
    return ("<h2>Resolution probe (transfer curves)</h2><p class='muted'>Each team's model restored copies "
            "of a few inputs with strong slanted gratings added and subtracted; the curves are its coherent "
            "response per frequency, relative to its low-band response, per region and axis. A model "
            "working at a reduced resolution cannot respond above that resolution's Nyquist frequency "
            f"(0.25 cycles/px for 2x, dashed); the red line is the flag threshold at {TOP} cycles/px; "
            "the gain is on a log scale.</p>"
            f"<div class='probes'>{''.join(cells)}</div>")


def _plain(value):
    """A JSON-ready Python value: numpy scalars unwrapped, NaN/NA/inf as None."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_CSS = """<style>
body{max-width:none}table.teams{width:100%}
tr.flag td{background:#fff5f5}td.flagcell{color:#cf222e;font-weight:600;text-align:left}
td.text,th.text{text-align:left}.ok{color:#1a7f37}
.probes{display:flex;flex-wrap:wrap;gap:1rem}
figure.probe-team{margin:0;padding:.4rem;border:1px solid #d0d7de;border-radius:6px;max-width:280px;
font-size:.8rem}figure.probe-team.flag{border-color:#cf222e;background:#fff5f5}
figure.probe-team ul{margin:.2rem 0 0 1rem;padding:0}
tr.detail td{text-align:left;white-space:normal;font-size:.8rem;color:#3d444d;border-top:none}
tr.detail ul{margin:.2rem 0 .2rem 1.2rem;padding:0}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;background:#ffebe9;color:#cf222e;
font-weight:600;margin-right:.4rem}
</style>"""

# (column, heading, format) of the HTML table; reason and guard findings go in a row beneath.
_SHOWN = (
    ("team", "team", "text"), ("status", "status", "text"), ("flag", "flag", "flag"),
    ("review", "rescaling review", "flag"), ("probe", "probe", "text"),
    ("Score", "Score", ".4f"), ("online_Score", "online", ".4f"), ("difference", "difference", "+.4f"),
    ("outputs", "outputs vs online", "text"),
    ("LPIPS_person", "LPIPS_person", ".4f"), ("DeltaE_person", "DeltaE_person", ".3f"),
    ("PSNR_bg", "PSNR_bg", ".3f"), ("SSIM_global", "SSIM_global", ".4f"),
    ("GlobalScore", "GlobalScore", ".4f"), ("images", "images ok", "images"),
    ("seconds_per_image", "model s/image", ".3g"), ("device", "device", "text"), ("gpu", "GPU", "text"),
)
_MAX_FINDINGS = 8


def _format(value, fmt: str, row) -> str:
    value = _plain(value)
    if fmt == "images":
        failed = _plain(row["images_failed"])
        return "–" if value is None else f"{int(value) - int(failed or 0)}/{int(value)}"
    if value is None or value == "":
        return "" if fmt in ("flag", "text") else "–"
    if fmt in ("flag", "text"):
        return str(value)
    return format(value, fmt)


def _team_rows(row, columns: int) -> str:
    flagged = bool(row["flag"]) or bool(_plain(row["review"]))
    cells = "".join(
        f"<td class='{'flagcell' if fmt == 'flag' else 'text' if fmt == 'text' else ''}'>"
        f"{html.escape(_format(row[column], fmt, row))}</td>" for column, _, fmt in _SHOWN)
    out = f"<tr class='{'flag' if flagged else ''}'>{cells}</tr>"
    reason = _plain(row["reason"]) or ""
    findings = [f for f in (_plain(row["guard_findings"]) or "").split("; ") if f]
    if reason or findings:
        parts = [f"<b>Reason:</b> {html.escape(reason)}"] if reason else []
        if findings:
            items = "".join(f"<li>{html.escape(f)}</li>" for f in findings[:_MAX_FINDINGS])
            more = (f"<li>… and {len(findings) - _MAX_FINDINGS} more (reproduction.csv)</li>"
                    if len(findings) > _MAX_FINDINGS else "")
            parts.append(f"<b>Guard findings ({len(findings)}):</b><ul>{items}{more}</ul>")
        out += (f"<tr class='detail{' flag' if flagged else ''}'><td colspan='{columns}'>"
                f"{'<br>'.join(parts)}</td></tr>")
    return out


def render_html(table: pd.DataFrame, meta: dict, timeline: Sequence[Assignment],
                results: Sequence[TeamResult] = (), consistency: dict | None = None,
                previews: dict | None = None, rules=None) -> str:
    flagged = table[(table["flag"] != "") | (table["review"].fillna("") != "")
                    | (table["outputs_flag"].fillna("") != "")]
    counts = pd.concat([table["flag"], table["outputs_flag"].fillna("")]).value_counts()
    badges = "".join(f"<span class='badge'>{html.escape(str(flag))}: {n}</span>"
                     for flag, n in counts.items() if flag)
    reviews = int((table["review"].fillna("") != "").sum())
    badges += f"<span class='badge review'>REVIEW: {reviews}</span>" if reviews else ""
    head = "".join(f"<th class='{'text' if fmt in ('text', 'flag') else ''}'>{html.escape(title)}</th>"
                   for _, title, fmt in _SHOWN)
    body_rows = "".join(_team_rows(row, len(_SHOWN)) for _, row in table.iterrows())
    settings = "".join(f"<tr><td>{html.escape(str(k))}</td><td class='text'>{html.escape(str(v))}</td></tr>"
                       for k, v in meta.items())
    slots = "".join(
        f"<tr><td>{html.escape(a.job)}</td><td>{html.escape(a.slot if a.slot is not None else 'cpu')}</td>"
        f"<td>{a.start:.1f}</td><td>{a.end:.1f}</td></tr>" for a in timeline)
    summary = (f"<p>{len(table)} teams · {len(flagged)} need attention {badges}</p>" if len(flagged)
               else f"<p class='ok'>{len(table)} teams · all reproduced within tolerance</p>")
    body = (
        _CSS
        + "<h1>AI Flash Portrait — organisers' reproduction</h1>"
        + summary
        + f"<p class='muted'>difference = reproduced − online Score; DISCREPANCY when |difference| &gt; "
          f"{html.escape(str(meta.get('tolerance')))} points. Flagged teams first. Model s/image is the "
          f"model's own time per image, from the ingestion program. Every column, unabridged, is in "
          f"reproduction.csv and reproduction.json.</p>"
        + f"<div class='scroll'><table class='teams'><thead><tr>{head}</tr></thead>"
          f"<tbody>{body_rows}</tbody></table></div>"
        + consistency_html(consistency or {}, previews or {}, rules)
        + probe_html(results)
        + repeats_html(results)
        + f"<h2>Run</h2><table><tbody>{settings}</tbody></table>"
        + ("<h2>GPU timeline (seconds since start; one team per GPU at a time)</h2><table><thead><tr>"
           "<th>team</th><th>GPU</th><th>start</th><th>end</th></tr></thead>"
           f"<tbody>{slots}</tbody></table>" if timeline else "")
    )
    return html_page("AI Flash Portrait — reproduction report", body)


def write_report(output_dir: Path, table: pd.DataFrame, meta: dict, timeline: Sequence[Assignment],
                 results: Sequence[TeamResult] = (), consistency: dict | None = None,
                 previews: dict | None = None, rules=None) -> dict[str, Path]:
    """Write reproduction.csv, reproduction.json and reproduction.html; returns their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: output_dir / f"{REPORT_STEM}.{ext}" for ext in ("csv", "json", "html")}
    write_text(paths["csv"], table.to_csv(index=False, float_format="%.6f"))
    records = [{k: _plain(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
    document = {"meta": meta, "teams": records,
                "determinism": {r.team: r.repeat for r in results if r.repeat},
                "timeline": [{"team": a.job, "gpu": a.slot, "start_s": round(a.start, 3),
                              "end_s": round(a.end, 3)} for a in timeline]}
    write_text(paths["json"], json.dumps(document, indent=2, allow_nan=False) + "\n")
    write_text(paths["html"], render_html(table, meta, timeline, results, consistency, previews, rules))
    return paths
