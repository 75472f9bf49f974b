"""Phase dates as Codabench's unpacker reads them (codabench.md §1.6, §7 pitfall 2).

Codabench's ``unpackers/utils.py::get_datetime`` sends a YAML-native date *or datetime* through
``datetime.combine(value, time())`` (a datetime is a date), so an unquoted ``2026-03-05 13:30:00``
is stored as midnight; quoted strings go through month-first ``dateutil``; every offset is then
replaced by UTC, not converted. We accept only quoted ISO UTC strings, whose time survives.
"""

from __future__ import annotations

import datetime as dt
import re

ISO_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)(Z|[+-]\d{2}:?\d{2})?$")
DATE_HINT = 'write it as a quoted UTC string, e.g. "2026-03-05 00:00:00"'


def codabench_datetime(value: object) -> dt.datetime | None:
    """The datetime Codabench stores for a phase ``start``/``end`` as ``yaml.safe_load`` gave it."""
    from dateutil import parser  # Codabench's own parser (pulled in by pandas here)

    if not value:
        return None
    if isinstance(value, dt.date):  # also true for datetimes: this is where the time is lost
        value = dt.datetime.combine(value, dt.time())
    elif not isinstance(value, dt.datetime):
        value = parser.parse(value)
    return value.replace(tzinfo=dt.timezone.utc)


def intended_datetime(text: str) -> dt.datetime | None:
    """The instant (in UTC) an ISO string means, or None if it is not ISO ``YYYY-MM-DD HH:MM[:SS]``."""
    match = ISO_DATETIME.match(text.strip())
    if not match:
        return None
    offset = (match.group(3) or "Z").replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(f"{match.group(1)} {match.group(2)}{offset}")
    except ValueError:
        return None
    return moment.astimezone(dt.timezone.utc)


def date_problem(value: object) -> str | None:
    """Why Codabench would not store the time this value means (None when it would)."""
    if isinstance(value, dt.datetime):
        stored = codabench_datetime(value)
        return (f"unquoted datetime {value.isoformat(sep=' ')}: Codabench drops its time and stores "
                f"{stored:%Y-%m-%d %H:%M} UTC; {DATE_HINT}")
    if isinstance(value, dt.date):
        return f"unquoted date {value}: stored as midnight UTC with no time given; {DATE_HINT}"
    if not isinstance(value, str):
        return f"{value!r} is not a date; {DATE_HINT}"
    intended = intended_datetime(value)
    if intended is None:
        try:
            read_as = f"Codabench's month-first parser reads it as {codabench_datetime(value):%Y-%m-%d %H:%M}"
        except (ValueError, OverflowError):
            read_as = "Codabench cannot parse it"
        return f'"{value}" is not ISO "YYYY-MM-DD HH:MM:SS" ({read_as}); {DATE_HINT}'
    stored = codabench_datetime(value)
    if stored != intended:
        return (f'"{value}" means {intended:%Y-%m-%d %H:%M:%S} UTC but Codabench drops the offset and '
                f"stores {stored:%Y-%m-%d %H:%M:%S} UTC; {DATE_HINT}")
    return None
