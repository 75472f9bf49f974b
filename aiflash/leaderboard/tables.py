"""Leaderboard tables: one definition of each table's columns drives its HTML, CSV and JSON."""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from urllib.parse import quote

import pandas as pd

from . import columns as C


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # "num" (right-aligned, sorted as numbers), "text", "rank", "status", "range" (an integer
    # interval from the ``low``/``high`` keys) or "ahead" (P(ahead of the next row), tie mark)
    kind: str = "num"
    decimals: int = 4
    higher_is_better: bool | None = None  # None: no direction (shown without an arrow)
    hint: str = ""  # tooltip on the header
    dash_if_disqualified: bool = False  # a disqualified team's value is shown as "–"
    ok_label: str = "✓ reproduced"  # status column: what a team in good standing shows
    low: str = ""  # keys of a confidence interval shown under the value ("num", "range")
    high: str = ""

    @property
    def header(self) -> str:
        if self.higher_is_better is None:
            return self.label
        return f"{self.label} {'↑' if self.higher_is_better else '↓'}"

    @property
    def first_sort(self) -> str:
        """Direction of the first click: best first for metrics, A→Z / 1→n otherwise."""
        return "descending" if self.higher_is_better else "ascending"


@dataclass(frozen=True)
class Table:
    slug: str  # file names (<slug>.csv / .json) and the HTML anchor
    title: str
    columns: tuple[Column, ...]
    rows: pd.DataFrame
    intro: str = ""  # HTML
    export_columns: tuple[str, ...] = ()  # CSV/JSON columns (default: the displayed ones)
    notes: list[str] = field(default_factory=list)  # plain text, shown under the table
    after: str = ""  # HTML shown after the table (plots)

    @property
    def exported(self) -> pd.DataFrame:
        keys = list(self.export_columns or [c.key for c in self.columns if c.kind != "status"])
        return self.rows[[k for k in keys if k in self.rows.columns]]

    def to_csv(self) -> str:
        return self.exported.to_csv(index=False, float_format="%.6f", lineterminator="\n")

    def to_json(self) -> str:
        records = []
        for record in self.exported.to_dict("records"):
            records.append({k: _plain(v) for k, v in record.items()})
        return json.dumps({"table": self.slug, "title": self.title, "rows": records}, indent=2,
                          ensure_ascii=False) + "\n"


def _plain(value):
    """A JSON-safe scalar: NaN/NA -> None, numpy scalars -> Python."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _cell(column: Column, row: dict) -> str:
    value = row.get(column.key)
    disqualified = bool(row.get(C.DISQUALIFIED, False))
    if column.kind == "status":
        return _status_cell(row, column.ok_label)
    if column.kind == "rank":
        if _missing(value):
            return "<td class='rank' data-v=''>–</td>"
        medal = f" medal m{int(value)}" if int(value) <= 3 else ""
        return f"<td class='rank' data-v='{int(value)}'><span class='badge{medal}'>{int(value)}</span></td>"
    if column.kind == "range":
        return _range_cell(column, row)
    if column.kind == "ahead":
        return _ahead_cell(value, bool(row.get("tied_with_next")), str(row.get("next_team") or "next"))
    if column.kind == "text":
        text = "" if _missing(value) else str(value)
        return f"<td class='text' data-v='{html.escape(text.lower())}'>{html.escape(text)}</td>"
    if _missing(value) or (disqualified and column.dash_if_disqualified):
        return "<td class='num' data-v=''>–</td>"
    number = float(value)
    sign = "+" if column.key == C.DIFFERENCE else ""
    shown = f"{number:{sign}.{column.decimals}f}"
    low, high = row.get(column.low), row.get(column.high)
    if column.low and not _missing(low) and not _missing(high):
        shown += (f"<span class='ci'>[{float(low):.{column.decimals}f}, "
                  f"{float(high):.{column.decimals}f}]</span>")
    return f"<td class='num' data-v='{number!r}'>{shown}</td>"


def _range_cell(column: Column, row: dict) -> str:
    low, high = row.get(column.low), row.get(column.high)
    if _missing(low) or _missing(high):
        return "<td class='num' data-v=''>–</td>"
    shown = f"{int(low)}" if int(low) == int(high) else f"{int(low)}–{int(high)}"
    return f"<td class='num range' data-v='{int(low) + int(high) / 1000!r}'>{shown}</td>"


def _ahead_cell(value, tied: bool, below: str) -> str:
    """P(this row is truly ahead of the one ranked below it, named ``below``): a tie mark a reader
    sees at once when not significant (named, so it still reads right after re-sorting)."""
    if _missing(value):
        return "<td class='ahead' data-v=''></td>"
    share, name = f"{100 * float(value):.0f}%", html.escape(below)
    if tied:
        return (f"<td class='ahead' data-v='{float(value)!r}'><span class='pill tie' title='not "
                f"significantly ahead of {name}: ahead in only {share} of the resamples'>"
                f"≈ tied with {name} · {share}</span></td>")
    return (f"<td class='ahead' data-v='{float(value)!r}'><span class='sig' title='ahead of {name} in "
            f"{share} of the resamples'>ahead · {share}</span></td>")


def _status_cell(row: dict, ok_label: str) -> str:
    reason = html.escape(str(row.get(C.REASON) or ""))
    if row.get(C.DISQUALIFIED):
        return (f"<td class='status' data-v='2'><span class='pill dq'>✕ disqualified</span>"
                f"<span class='why'>{reason or 'no reason given'}</span></td>")
    if row.get(C.DISCREPANCY):
        diff = row.get(C.DIFFERENCE)
        detail = f"reproduced − online = {float(diff):+.3f}" if not _missing(diff) else ""
        detail = reason or detail
        return (f"<td class='status' data-v='1'><span class='pill warn'>⚠ discrepancy</span>"
                f"<span class='why'>{html.escape(detail)}</span></td>")
    pill = f"<span class='pill ok'>{html.escape(ok_label)}</span>" if ok_label else ""
    return f"<td class='status' data-v='0'>{pill}</td>"


def render(table: Table) -> str:
    """The section of the page for one table: intro, downloads, sortable table, notes."""
    head = []
    for c in table.columns:
        hint = f" title='{html.escape(c.hint)}'" if c.hint else ""
        initial = "ascending" if c.kind == "rank" else "none"  # rows arrive in rank order
        head.append(f"<th class='{c.kind}' data-first='{c.first_sort}' data-kind='{c.kind}' "
                    f"aria-sort='{initial}' scope='col'{hint}><button type='button'>"
                    f"{html.escape(c.header)}</button></th>")
    body = []
    for index, row in enumerate(table.rows.to_dict("records")):
        disqualified, flagged = bool(row.get(C.DISQUALIFIED)), bool(row.get(C.DISCREPANCY))
        # Disqualified rows stay last whatever the sort (data-pin), as they have no rank.
        classes = [c for c, on in (("dq", disqualified), ("flagged", flagged),
                                   ("tied-next", bool(row.get("tied_with_next")))) if on]
        attributes = (" data-pin='last'" if disqualified else "") \
            + (f" class='{' '.join(classes)}'" if classes else "")
        body.append(f"<tr data-i='{index}'{attributes}>"
                    + "".join(_cell(c, row) for c in table.columns) + "</tr>")
    if not body:
        body.append(f"<tr><td colspan='{len(table.columns)}' class='empty'>No rows.</td></tr>")
    downloads = (
        f"<a class='dl' download='{table.slug}.csv' "
        f"href='data:text/csv;charset=utf-8,{quote(table.to_csv())}'>CSV</a>"
        f"<a class='dl' download='{table.slug}.json' "
        f"href='data:application/json;charset=utf-8,{quote(table.to_json())}'>JSON</a>")
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in table.notes)
    norank = "" if any(c.kind == "rank" for c in table.columns) else " norank"  # no sticky offset
    return (f"<section class='card' id='{table.slug}'><div class='card-head'>"
            f"<h2>{html.escape(table.title)}</h2><div class='downloads'>{downloads}</div></div>"
            f"{table.intro}<div class='table-wrap'><table class='sortable{norank}' id='t-{table.slug}'>"
            f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
            f"{table.after}{notes}"
            f"</section>")
