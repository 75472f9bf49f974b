"""The reproduction report's columns and HTML sections for output consistency (``--online-outputs``)
and determinism/timing (``--repeat``); ``report.py`` places them. Thumbnails arrive as JPEG bytes
(made by ``consistency.pair_preview``): nothing here decodes a file."""

from __future__ import annotations

import base64
import html
import statistics
from collections.abc import Mapping, Sequence

from .consistency import IDENTICAL, NO_ONLINE, OUTPUTS_DIFFER, TeamConsistency
from .results import TeamResult

CONSISTENCY_COLUMNS = ("outputs", "outputs_flag", "outputs_different", "outputs_worst", "outputs_min_psnr_db",
                       "outputs_max_abs_diff")
REPEAT_COLUMNS = ("runs", "run_to_run_max_abs_diff", "nondeterministic_images", "time_median_s",
                  "time_spread_s", "gpu_name", "driver", "cuda", "model_parameters", "peak_gpu_memory_mb")
ABSENT = "absent"
_MAX_IMAGE_ROWS = 200

CSS = """<style>
.pair{display:flex;gap:.8rem;flex-wrap:wrap;margin:.4rem 0 1rem}.pair figure{margin:0}
.pair img{max-width:360px;border:1px solid #d0d7de}.pair figcaption{font-size:.8rem;color:#3d444d}
td.bad{color:#cf222e;font-weight:600}
</style>"""


def consistency_columns(consistency: TeamConsistency | None) -> dict:
    if consistency is None:
        return dict.fromkeys(CONSISTENCY_COLUMNS)
    return {"outputs": consistency.verdict,
            "outputs_flag": OUTPUTS_DIFFER if consistency.verdict == OUTPUTS_DIFFER else "",
            "outputs_different": (f"{consistency.different}/{len(consistency.images)}"
                                  if consistency.images else None),
            "outputs_worst": ", ".join(consistency.worst),
            "outputs_min_psnr_db": consistency.min_psnr_db,
            "outputs_max_abs_diff": consistency.max_abs_diff}


def _joined(values: Sequence) -> str | None:
    """One value when every run agrees, else each run's, in run order."""
    shown = [str(v) for v in values if v is not None]
    if not shown:
        return None
    return shown[0] if len(set(shown)) == 1 and len(shown) == len(values) else " | ".join(
        str(v) if v is not None else ABSENT for v in values)


def repeat_columns(result: TeamResult) -> dict:
    repeat = result.repeat or {}
    if not repeat:
        return dict.fromkeys(REPEAT_COLUMNS)
    runs = repeat.get("per_run") or []
    images = repeat.get("images") or []
    medians = [i["time_median_s"] for i in images if i.get("time_median_s") is not None]
    spreads = [i["time_spread_s"] for i in images if i.get("time_spread_s") is not None]
    return {"runs": repeat.get("runs"),
            "run_to_run_max_abs_diff": repeat.get("max_abs_diff") if repeat.get("runs", 1) > 1 else None,
            "nondeterministic_images": (repeat.get("nondeterministic_images")
                                        if repeat.get("runs", 1) > 1 else None),
            "time_median_s": round(statistics.median(medians), 4) if medians else None,
            "time_spread_s": max(spreads) if spreads else None,
            "gpu_name": _joined([r.get("gpu_name") for r in runs]),
            "driver": _joined([r.get("driver") for r in runs]),
            "cuda": _joined([r.get("cuda") for r in runs]),
            "model_parameters": repeat.get("model_parameters"),
            "peak_gpu_memory_mb": repeat.get("peak_gpu_memory_mb")}


def _number(value, fmt: str) -> str:
    return ABSENT if value is None else format(value, fmt)


def _img(data: bytes, alt: str) -> str:
    if not data:
        return f"<div>{html.escape(alt)}: not available</div>"
    return (f"<img alt='{html.escape(alt)}' "
            f"src='data:image/jpeg;base64,{base64.b64encode(data).decode('ascii')}'>")


def consistency_html(consistency: Mapping[str, TeamConsistency], previews: Mapping[str, tuple],
                     rules) -> str:
    """Per team: the verdict, how many images differ, the worst ones, and the worst pair."""
    if not consistency:
        return ""
    rows, pairs = [], []
    for team, c in consistency.items():
        bad = c.verdict in (OUTPUTS_DIFFER, NO_ONLINE)
        rows.append(
            f"<tr data-team='{html.escape(team)}'><td class='text'>{html.escape(team)}</td>"
            f"<td class='text {'bad' if bad else ''}'>{html.escape(c.verdict)}</td>"
            f"<td>{c.different}/{len(c.images)}</td>"
            f"<td>{'∞' if c.verdict == IDENTICAL else _number(c.min_psnr_db, '.2f')}</td>"
            f"<td>{_number(c.max_abs_diff, 'd')}</td><td class='text'>{html.escape(', '.join(c.worst))}</td>"
            f"<td class='text'>{html.escape(c.source)}</td></tr>")
        preview = previews.get(team)
        if preview:
            image, mine, theirs, heat = preview
            pairs.append(
                f"<h3 data-pair='{html.escape(team)}'>{html.escape(team)}: worst image {html.escape(image)}"
                f" ({html.escape(c.verdict)})</h3><div class='pair'>"
                f"<figure>{_img(mine, f'{team} {image} reproduced')}<figcaption>reproduced</figcaption>"
                f"</figure>"
                f"<figure>{_img(theirs, f'{team} {image} online')}<figcaption>online (Codabench)"
                f"</figcaption></figure><figure>{_img(heat, f'{team} {image} difference')}<figcaption>"
                f"|reproduced − online|, √ scale: 1 level visible, 16+ brightest</figcaption></figure></div>")
    return (
        CSS + "<h2 id='consistency'>Output consistency (reproduced vs online result images)</h2>"
        f"<p class='muted'>Per image, as 8-bit RGB: identical; within tolerance (PSNR between the two "
        f"outputs ≥ {rules.min_psnr_db:g} dB and no pixel off by more than {rules.max_abs_diff} levels); "
        f"else different. {OUTPUTS_DIFFER} when more than {rules.differ_share:.0%} of a team's images "
        f"differ: another model or other code than online, whatever the Score says (the Score "
        f"discrepancy is judged separately above). Per-image values: teams/&lt;team&gt;/consistency.csv."
        f"</p><table class='consistency'><thead><tr><th class='text'>team</th><th class='text'>verdict</th>"
        f"<th>images different</th><th>min PSNR (dB)</th><th>max |diff|</th><th class='text'>worst images"
        f"</th><th class='text'>online outputs</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + "".join(pairs))


def repeats_html(results: Sequence[TeamResult]) -> str:
    """Per team: each run's machine, and per image the run-to-run difference and the time."""
    teams = [r for r in results if r.repeat]
    if not teams:
        return ""
    parts = ["<h2 id='determinism'>Determinism and timing</h2><p class='muted'>Run-to-run difference: "
             "each image of runs 2..N against run 1 (the scored run), worst over the runs. Time: the "
             "model's own time per image (median and max − min over the runs). 'absent' means the run "
             "could not know it (no GPU: no GPU name, driver or GPU memory).</p>"]
    for result in teams:
        repeat = result.repeat
        runs = "".join(
            f"<tr><td>{i}</td><td class='text'>{html.escape(str(r.get('device') or ABSENT))}</td>"
            f"<td class='text'>{html.escape(str(r.get('gpu_name') or ABSENT))}</td>"
            f"<td class='text'>{html.escape(str(r.get('driver') or ABSENT))}</td>"
            f"<td class='text'>{html.escape(str(r.get('cuda') or ABSENT))}</td>"
            f"<td>{_number(r.get('peak_gpu_memory_mb'), '.1f')}</td></tr>"
            for i, r in enumerate(repeat.get("per_run") or [], start=1))
        images = "".join(
            f"<tr><td class='text'>{html.escape(i['image'])}</td>"
            f"<td class='text'>{html.escape(i.get('verdict') or '–')}</td>"
            f"<td>{_number(i.get('max_abs_diff'), 'd')}</td><td>{_number(i.get('min_psnr_db'), '.2f')}</td>"
            f"<td>{_number(i.get('time_median_s'), '.3f')}</td><td>{_number(i.get('time_spread_s'), '.3f')}"
            f"</td></tr>" for i in (repeat.get("images") or [])[:_MAX_IMAGE_ROWS])
        parameters = repeat.get("model_parameters")
        summary = (f"{repeat.get('runs')} run(s), {repeat.get('nondeterministic_images', 0)} image(s) differ "
                   f"between runs (max |diff| {_number(repeat.get('max_abs_diff'), 'd')})"
                   if repeat.get("runs", 1) > 1 else "1 run (--repeat N for run-to-run differences)")
        parts.append(
            f"<h3 data-repeat='{html.escape(result.team)}'>{html.escape(result.team)}: {summary}</h3>"
            f"<p>Model parameters: {ABSENT if parameters is None else f'{parameters:,}'} · peak GPU memory: "
            f"{_number(repeat.get('peak_gpu_memory_mb'), '.1f')} MB</p>"
            f"<table><thead><tr><th>run</th><th class='text'>device</th><th class='text'>GPU</th>"
            f"<th class='text'>driver</th><th class='text'>CUDA (torch build)</th><th>peak GPU MB</th></tr>"
            f"</thead><tbody>{runs}</tbody></table>"
            f"<table><thead><tr><th class='text'>image</th><th class='text'>run to run</th>"
            f"<th>max |diff|</th>"
            f"<th>min PSNR (dB)</th><th>time median (s)</th><th>time spread (s)</th></tr></thead>"
            f"<tbody>{images}</tbody></table>")
    return "".join(parts)
