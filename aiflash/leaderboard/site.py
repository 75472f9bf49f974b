"""The leaderboard site: one self-contained HTML page (inline CSS and JS, no network at view time)
with a section per phase, the expert assessment and the final ranking, plus CSV/JSON per table.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import write_text
from ..profile import Profile
from ..report import html_page
from . import columns as C
from .confidence import (
    Statistics,
    agreement_table,
    confidence_table,
    link_table,
    weights_table,
    with_intervals,
)
from .ranking import FinalSettings, final_ranking, ranked
from .tables import Column, Table, render

INDEX_FILE = "index.html"


@dataclass(frozen=True)
class Site:
    title: str
    tables: tuple[Table, ...]
    html: str


def _metric_columns(profile: Profile, dash_if_disqualified: bool = False,
                    score_label: str = "Score") -> list[Column]:
    directions = C.metric_directions(profile)
    out = []
    for key in C.DISPLAY_METRICS:
        direction = directions[key]
        hint = direction.words
        if key in profile.ranges:
            r = profile.ranges[key]
            hint += f"; normalised over {r.low:g} … {r.high:g}"
        out.append(Column(key, score_label if key == C.SCORE else key, decimals=C.DECIMALS[key],
                          higher_is_better=direction.higher_is_better, hint=hint,
                          dash_if_disqualified=dash_if_disqualified))
    return out


RANK = Column("rank", "#", kind="rank", hint="rank (ties share a rank)")
TEAM = Column(C.TEAM, "Team", kind="text")


def apply_discrepancy_policy(results: pd.DataFrame) -> pd.DataFrame:
    """Disqualify every flagged team (organisers' choice: ``--disqualify-discrepancies``)."""
    out = results.copy()
    flagged = out[C.DISCREPANCY].astype(bool) & ~out[C.DISQUALIFIED].astype(bool)
    for index in out.index[flagged]:
        diff = out.at[index, C.DIFFERENCE]
        detail = f" by {diff:+.3f} points" if pd.notna(diff) else ""
        out.at[index, C.DISQUALIFIED] = True
        out.at[index, C.REASON] = (out.at[index, C.REASON]
                                   or f"reproduced Score differs from the online Score{detail}")
    return out


ONLINE_PHASES = {
    1: ("phase1", "Phase 1 — Development (online leaderboard)",
        "Result submissions scored on Codabench on the public development split."),
    2: ("phase2", "Phase 2 — Validation (online leaderboard)",
        "Result submissions scored on Codabench on the 100 validation inputs."),
}


def online_table(results: pd.DataFrame, profile: Profile, phase: int = 2,
                 statistics: Statistics | None = None) -> Table:
    """An online (Codabench) phase: rank, team, Score and every metric."""
    slug, title, what = ONLINE_PHASES[phase]
    rows = ranked(results)
    columns = [RANK, TEAM, *_metric_columns(profile, dash_if_disqualified=True)]
    if rows[C.DISQUALIFIED].astype(bool).any():  # e.g. a submission without a Score
        columns.append(Column("status", "Status", kind="status", ok_label=""))
    exports: tuple[str, ...] = ()
    if statistics is not None and slug in statistics.objective:
        rows, columns, exports = with_intervals(rows, columns, statistics.objective[slug].table(), C.SCORE)
    return Table(
        slug, title, tuple(columns), rows,
        intro=(f"<p class='intro'>{what} Ranked by Score; ties broken by LPIPS_person (lower is "
               f"better). Click a column header to sort.</p>"),
        export_columns=("rank", C.TEAM, *C.DISPLAY_METRICS, *exports))


def phase3_table(reproduction: pd.DataFrame, profile: Profile,
                 statistics: Statistics | None = None) -> Table:
    rows = ranked(reproduction)
    flagged = int((rows[C.DISCREPANCY].astype(bool) & ~rows[C.DISQUALIFIED].astype(bool)).sum())
    dq = int(rows[C.DISQUALIFIED].astype(bool).sum())
    review = int((rows[C.REVIEW].fillna("") != "").sum()) if C.REVIEW in rows else 0
    score, *metrics = _metric_columns(profile, dash_if_disqualified=True, score_label="Reproduced")
    columns = (
        RANK, TEAM, score,
        Column(C.ONLINE_SCORE, "Online", decimals=4, hint="the Score Codabench showed online"),
        Column(C.DIFFERENCE, "Δ", decimals=3, hint="reproduced − online Score"),
        Column("status", "Status", kind="status"),
        *metrics,
    )
    exports: tuple[str, ...] = ()
    if statistics is not None and "phase3" in statistics.objective:
        rows, columns, exports = with_intervals(rows, columns, statistics.objective["phase3"].table(),
                                                C.SCORE)
    return Table(
        "phase3", "Phase 3 — Final test (reproduced by the organisers)", columns, rows,
        intro=("<p class='intro'>Each finalist's code re-run by the organisers on unified hardware "
               "and scored on the 100 hidden test inputs, beside the online Score. "
               f"<b>{flagged}</b> discrepanc{'y' if flagged == 1 else 'ies'} flagged, "
               f"<b>{dq}</b> team{'' if dq == 1 else 's'} disqualified (shown as “–” with the "
               f"reason), <b>{review}</b> with images flagged for the organisers' rescaling review "
               "(⚑).</p>"),
        export_columns=("rank", C.TEAM, *C.DISPLAY_METRICS, C.ONLINE_SCORE, C.DIFFERENCE,
                        C.DISCREPANCY, C.STATUS, C.DISQUALIFIED, C.REASON, C.REVIEW, *exports))


def experts_table(subjective: pd.DataFrame, settings: FinalSettings,
                  statistics: Statistics | None = None) -> Table:
    rows = ranked(subjective, primary=C.SUBJECTIVE)
    columns = [RANK, TEAM]
    counts = (
        (C.TOP3, "In a Top-3", "times the team's result was in an expert's Top-3"),
        (C.FIRST, "1st", "times ranked 1st"), (C.SECOND, "2nd", "times ranked 2nd"),
        (C.THIRD, "3rd", "times ranked 3rd"), (C.POINTS, "Points", "weighted Top-3 count"),
    )
    columns += [Column(k, label, decimals=0, higher_is_better=True, hint=hint)
                for k, label, hint in counts if k in rows.columns]
    columns.append(Column(C.SUBJECTIVE, "Expert score", decimals=2, higher_is_better=True,
                          hint=f"normalised to {settings.subjective_low:g}–{settings.subjective_high:g}"))
    exports: tuple[str, ...] = ()
    if statistics is not None and statistics.experts is not None:
        rows, columns, exports = with_intervals(rows, columns, statistics.experts.subjective.table(
            C.SUBJECTIVE), C.SUBJECTIVE, C.SUBJECTIVE, with_rank=True)
    return Table(
        "experts", "Expert blind assessment", tuple(columns), rows,
        intro=(f"<p class='intro'>Experts ranked anonymised results (Top-3 per image). Points are "
               f"normalised linearly to {settings.subjective_low:g}–{settings.subjective_high:g}: "
               f"most chosen team {settings.subjective_high:g}, least chosen "
               f"{settings.subjective_low:g} (all equal → {settings.subjective_mid:g}).</p>"),
        export_columns=("rank", C.TEAM, C.TOP3, C.FIRST, C.SECOND, C.THIRD, C.POINTS, C.SUBJECTIVE,
                        *exports))


def final_table(objective: pd.DataFrame, subjective: pd.DataFrame, settings: FinalSettings,
                statistics: Statistics | None = None) -> Table:
    rows = final_ranking(objective, subjective, settings)
    columns = (
        RANK, TEAM,
        Column(C.FINAL, "Final", decimals=3, higher_is_better=True, hint=settings.formula()),
        Column(C.SCORE, "Score (reproduced)", decimals=4, higher_is_better=True,
               hint=f"objective, weight {settings.objective_weight:g}", dash_if_disqualified=True),
        Column(C.SUBJECTIVE, "Expert score", decimals=2, higher_is_better=True,
               hint=f"subjective, weight {settings.subjective_weight:g}"),
        Column("status", "Status", kind="status", ok_label=""),
    )
    exports: tuple[str, ...] = ()
    if statistics is not None and statistics.experts is not None and statistics.experts.final:
        rows, columns, exports = with_intervals(rows, columns, statistics.experts.final.table(C.FINAL),
                                                C.FINAL, C.FINAL, with_rank=True)
    formula = html.escape(settings.formula("Score", "expert score"))
    return Table(
        "final", "Final ranking", columns, rows,
        intro=(f"<p class='intro'><span class='formula'>{formula}</span> Objective Score from the "
               f"reproduced Phase 3 results; expert score from the blind assessment. Ties broken by "
               f"Score, then LPIPS_person.</p>"),
        export_columns=("rank", C.TEAM, C.FINAL, C.SCORE, C.SUBJECTIVE, C.TIE_BREAK, C.DISQUALIFIED,
                        C.REASON, *exports))


def build_site(profile: Profile, *, phase1: pd.DataFrame | None = None,
               phase2: pd.DataFrame | None = None,
               reproduction: pd.DataFrame | None = None, subjective: pd.DataFrame | None = None,
               title: str = "NTIRE 2026 RAIM · Track 3 — AI Flash Portrait", generated: str = "",
               disqualify_discrepancies: bool = False, statistics: Statistics | None = None) -> Site:
    """All tables that the given inputs allow, and the page that shows them.

    ``statistics`` (``confidence.compute_statistics``, on the same inputs after the discrepancy
    policy) adds the intervals, tie marks and the statistics sections.
    """
    settings = FinalSettings.from_profile(profile)
    tables: list[Table] = []
    if reproduction is not None and disqualify_discrepancies:
        reproduction = apply_discrepancy_policy(reproduction)
    if reproduction is not None and subjective is not None:
        tables.append(final_table(reproduction, subjective, settings, statistics))
    tables += statistics_tables(statistics, profile, subjective)
    if reproduction is not None:
        tables.append(phase3_table(reproduction, profile, statistics))
        tables += _confidence_tables(statistics, "phase3")
    if subjective is not None:
        tables.append(experts_table(subjective, settings, statistics))
    if phase2 is not None:
        tables.append(online_table(phase2, profile, 2, statistics))
        tables += _confidence_tables(statistics, "phase2")
    if phase1 is not None:
        tables.append(online_table(phase1, profile, 1, statistics))
        tables += _confidence_tables(statistics, "phase1")
    return Site(title, tuple(tables), page(title, tables, generated, settings,
                                            final_missing=subjective is not None and reproduction is None))


def _confidence_tables(statistics: Statistics | None, slug: str) -> list[Table]:
    if statistics is None or slug not in statistics.objective:
        return []
    return [confidence_table(slug, statistics.objective[slug], statistics.without_per_image.get(slug, ()),
                             statistics.published.get(slug))]


def statistics_tables(statistics: Statistics | None, profile: Profile,
                      subjective: pd.DataFrame | None) -> list[Table]:
    """The final section's statistics: expert agreement with leave-one-expert-out, the weight
    sensitivity, objective vs subjective."""
    if statistics is None:
        return []
    tables = []
    if statistics.experts is not None:
        tables.append(agreement_table(statistics.experts, statistics.settings))
        weights = weights_table(statistics.experts)
        if weights is not None:
            tables.append(weights)
    if subjective is None and statistics.experts is not None:
        subjective = statistics.experts.subjective.table(C.SUBJECTIVE)
    link = link_table(statistics, profile, subjective) if statistics.correlations else None
    if link is not None:
        tables.append(link)
    return tables


def page(title: str, tables: list[Table], generated: str, settings: FinalSettings,
         final_missing: bool = False) -> str:
    nav = "".join(f"<a href='#{t.slug}'>{html.escape(t.title.split(' (')[0])}</a>" for t in tables)
    note = ("<p class='note'>The final ranking needs the Phase 3 reproduction report "
            "(--reproduction).</p>") if final_missing else ""
    stamp = f" · generated {html.escape(generated)}" if generated else ""
    body = (
        f"<header class='top'><div class='wrap'><p class='kicker'>Leaderboards</p>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='sub'>Final ranking = {settings.objective_weight * 100:g}% objective Score + "
        f"{settings.subjective_weight * 100:g}% expert score{stamp}</p>"
        f"<nav>{nav}</nav></div></header>"
        f"<main class='wrap'>{note}{''.join(render(t) for t in tables)}"
        f"<footer>↑ higher is better · ↓ lower is better · “–” no value (disqualified or not "
        f"measured). Every table is also available as CSV and JSON.</footer></main>"
    )
    return html_page(title, body, css=_CSS, script=_SCRIPT)


def write_site(output_dir: Path, site: Site) -> list[Path]:
    """index.html plus <table>.csv and <table>.json for every table; returns the paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table in site.tables:
        for suffix, text in ((".csv", table.to_csv()), (".json", table.to_json())):
            path = output_dir / f"{table.slug}{suffix}"
            write_text(path, text)
            written.append(path)
    index = output_dir / INDEX_FILE
    write_text(index, site.html)
    return [index, *written]


_CSS = """
body{margin:0;max-width:none;background:#f3f5f8;color:#1b1f24;line-height:1.45}
.wrap{max-width:1180px;margin:0 auto;padding:0 1.25rem}
header.top{background:linear-gradient(135deg,#1f2a44,#2f4b7c);color:#fff;padding:1.6rem 0 0;
margin-bottom:1.5rem}
header.top h1{font-size:1.55rem;margin:.1rem 0 .3rem}.kicker{margin:0;text-transform:uppercase;
letter-spacing:.12em;font-size:.72rem;color:#b8c7e6}.sub{margin:0 0 1rem;color:#d6e0f5;font-size:.9rem}
nav{display:flex;gap:.25rem;overflow-x:auto}nav a{color:#fff;text-decoration:none;padding:.55rem .9rem;
border-radius:.5rem .5rem 0 0;font-size:.88rem;white-space:nowrap;background:rgba(255,255,255,.08)}
nav a:hover{background:rgba(255,255,255,.2)}
.card{background:#fff;border:1px solid #dde3ea;border-radius:12px;padding:1rem 1.1rem 1.1rem;
margin:0 0 1.4rem;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.card-head{display:flex;justify-content:space-between;align-items:center;gap:1rem;flex-wrap:wrap}
.card h2{margin:0;font-size:1.15rem}.intro{color:#444d56;font-size:.9rem;margin:.4rem 0 .8rem}
.formula{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef2ff;color:#2b3a8c;
padding:.1rem .4rem;border-radius:4px;margin-right:.3rem}
.downloads{display:flex;gap:.4rem}.dl{font-size:.78rem;text-decoration:none;color:#2f4b7c;
border:1px solid #c9d3e3;border-radius:999px;padding:.15rem .65rem}.dl:hover{background:#eef2ff}
.table-wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid #e4e8ee;border-radius:8px}
table.sortable{border-collapse:separate;border-spacing:0;width:100%;margin:0;font-size:.86rem}
table.sortable th,table.sortable td{border:0;border-bottom:1px solid #edf0f4;padding:.45rem .6rem;
white-space:nowrap}
table.sortable thead th{background:#f6f8fb;position:sticky;top:0;z-index:2;padding:0}
table.sortable th button{all:unset;cursor:pointer;display:block;padding:.5rem .6rem;font-weight:600;
color:#30363d;width:100%;box-sizing:border-box}
table.sortable th.num button{text-align:right}table.sortable th.text button{text-align:left}
table.sortable th.rank button{text-align:center}
table.sortable th.status button,td.status{text-align:left}
table.sortable th button:focus-visible{outline:2px solid #4c6ef5}
th[aria-sort=ascending] button::after{content:" ▲";color:#4c6ef5;font-size:.7em}
th[aria-sort=descending] button::after{content:" ▼";color:#4c6ef5;font-size:.7em}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.text{text-align:left;font-weight:600}
td.rank,th.rank{text-align:center;box-sizing:border-box;width:3rem;min-width:3rem;max-width:3rem}
td.rank,th.rank,td.text,th.text{position:sticky;left:0;background:#fff;z-index:1}
td.text,th.text{left:3rem;box-shadow:1px 0 0 #edf0f4}th.rank,th.text{background:#f6f8fb;z-index:3}
tbody tr:hover td{background:#f8faff}
.badge{display:inline-block;min-width:1.7rem;padding:.1rem .35rem;border-radius:999px;
background:#eef1f5;font-weight:700;font-size:.8rem}
.medal.m1{background:#f7d774;color:#5c4400}.medal.m2{background:#dfe4ea;color:#39424e}
.medal.m3{background:#ecc19c;color:#5a3211}
tr.flagged td{background:#fff7e6}tr.flagged td.rank,tr.flagged td.text{background:#fff7e6}
tr.dq td{color:#8a939d;background:#fafbfc}tr.dq td.text{text-decoration:line-through;
text-decoration-color:#c4cbd3}
.pill{display:inline-block;border-radius:999px;padding:.08rem .55rem;font-size:.75rem;font-weight:600}
.pill.ok{background:#e6f6ec;color:#1a7f37}.pill.warn{background:#ffe8b3;color:#7a4b00}
.pill.dq{background:#ffe3e3;color:#b42318}.why{display:block;font-size:.75rem;color:#6b7580;
white-space:normal;min-width:12rem;max-width:26rem;margin-top:.1rem}
td.empty{text-align:center;color:#6b7580}.note{color:#57606a;font-size:.85rem}
footer{color:#6b7580;font-size:.8rem;padding:0 0 2rem}
table.norank td.text,table.norank th.text{position:static;box-shadow:none}
.ci{display:block;font-size:.7rem;color:#6b7580}
.pill.tie{background:#fff0e0;color:#b54708;border:1px solid #f5b971}.sig{font-size:.75rem;color:#57606a}
tr.tied-next td.rank,tr.tied-next+tr td.rank{box-shadow:inset 3px 0 0 #e8590c}
tr.tied-next td{border-bottom:1px dashed #f5b971}
.plot{margin:.8rem 0 0;overflow-x:auto}.plot svg,.plots svg{max-width:100%;height:auto}
.plots{display:flex;flex-wrap:wrap;gap:.8rem;margin-top:.8rem}
@media (max-width:640px){.wrap{padding:0 .7rem}header.top{padding-top:1rem}
header.top h1{font-size:1.2rem}.card{padding:.8rem .7rem;border-radius:10px}
table.sortable{font-size:.78rem}table.sortable th button{padding:.4rem .45rem}
table.sortable td{padding:.35rem .45rem}.why{min-width:10rem;max-width:16rem}}
"""

_SCRIPT = """
(function(){
  function value(cell, kind){
    var v = cell.getAttribute('data-v');
    if (v === null || v === '') return null;
    return (kind === 'text') ? v : parseFloat(v);
  }
  function sortBy(table, th){
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var kind = th.getAttribute('data-kind');
    var current = th.getAttribute('aria-sort');
    var dir = (current === 'none') ? th.getAttribute('data-first')
      : (current === 'ascending' ? 'descending' : 'ascending');
    table.querySelectorAll('thead th').forEach(function(h){ h.setAttribute('aria-sort', 'none'); });
    th.setAttribute('aria-sort', dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = dir === 'ascending' ? 1 : -1;
    rows.sort(function(a, b){
      var pa = a.getAttribute('data-pin') === 'last', pb = b.getAttribute('data-pin') === 'last';
      if (pa !== pb) return pa ? 1 : -1;
      var va = value(a.cells[index], kind), vb = value(b.cells[index], kind);
      if (va === null && vb !== null) return 1;
      if (vb === null && va !== null) return -1;
      if (va !== null && va !== vb) return (va < vb ? -1 : 1) * sign;
      return parseInt(a.getAttribute('data-i'), 10) - parseInt(b.getAttribute('data-i'), 10);
    });
    rows.forEach(function(r){ body.appendChild(r); });
  }
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('thead th').forEach(function(th){
      th.addEventListener('click', function(){ sortBy(table, th); });
    });
  });
})();
"""
