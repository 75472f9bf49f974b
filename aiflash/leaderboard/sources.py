"""Reading the tables the site is built from, each into one canonical DataFrame.

Objective results (Phase 2 online, Phase 3 reproduced) come as any of:

* Codabench's leaderboard export (CSV): ``Username, fact_sheet_answers, <task>(<id>)-<column
  title>, ...`` where Username is ``<owner>-<submission id>`` (``api/views/competitions.py::results``);
* a simple CSV or JSON table with a ``team`` column and the ``scores.json`` keys, which is also
  what the reproduction report is (plus ``online_score``, ``difference``, ``discrepancy``,
  ``status``, ``reason``);
* a folder of scoring outputs, one sub-folder per team holding its ``scores.json``.

Every loader returns one row per team with the columns of ``columns.py``; the ``disqualified``
column is true for failed reproductions, with the reason in ``reason``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from ..errors import AiflashError
from ..report import PER_IMAGE_FILE, SCORES_FILE
from . import columns as C


class LeaderboardError(AiflashError):
    """A leaderboard, reproduction or assessment input is missing or malformed."""


_CODABENCH_PREFIX = re.compile(r"^.*?\(\d+\)-")  # "<task name>(<task id>)-" before a column title
_SUBMISSION_SUFFIX = re.compile(r"-\d+$")  # "<owner>-<submission id>"
_TRUE = {"true", "yes", "y", "1", "x", "flagged", "discrepancy"}
_FALSE = {"false", "no", "n", "0", "", "nan", "none", "ok"}


def _read_table(path: Path) -> tuple[pd.DataFrame, bool]:
    """A CSV or JSON table as strings (no type guessing yet); True when it is a Codabench export."""
    if not path.is_file():
        raise LeaderboardError(f"{path}: file not found.")
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(raw, dict):
                raw = next((raw[k] for k in ("rows", "teams", "results", "data") if k in raw), raw)
            if isinstance(raw, dict):  # {team: {metric: value}}
                raw = [{C.TEAM: team, **values} for team, values in raw.items()]
            if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
                raise LeaderboardError(f"{path}: expected a list of rows (objects) or {{team: {{...}}}}.")
            frame = pd.DataFrame(raw)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise LeaderboardError(f"{path}: cannot be read as a table ({exc}).") from exc
    codabench = "Username" in frame.columns and any(_CODABENCH_PREFIX.match(c) for c in frame.columns)
    return frame, codabench


def _number(value, path: Path, team: str, column: str) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    text = str(value).strip()
    if text in ("", "-", "–", "n/a", "NA", "nan", "NaN", "None", "null"):
        return math.nan
    try:
        number = float(text)
    except ValueError:
        raise LeaderboardError(
            f"{path}: team {team!r}: {column} is {text!r}, not a number.") from None
    if not math.isfinite(number):
        raise LeaderboardError(f"{path}: team {team!r}: {column} is {text!r}; scores must be finite.")
    return number


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _flag(value, path: Path, team: str) -> bool:
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise LeaderboardError(f"{path}: team {team!r}: discrepancy is {value!r}; use true or false.")


def _rename(frame: pd.DataFrame, path: Path, codabench: bool) -> pd.DataFrame:
    mapping: dict[str, str] = {}
    for header in frame.columns:
        title = _CODABENCH_PREFIX.sub("", header) if codabench else header
        key = C.canonical(str(title))
        if key is None:
            continue
        if key in mapping.values():
            first = next(h for h, k in mapping.items() if k == key)
            raise LeaderboardError(
                f"{path}: columns {first!r} and {header!r} both mean {key}; keep one.")
        mapping[header] = key
    frame = frame.rename(columns=mapping)[list(mapping.values())]
    if C.TEAM not in frame.columns:
        raise LeaderboardError(f"{path}: no team column (expected 'team', or 'Username' in a Codabench "
                               f"export); columns are {', '.join(map(str, mapping)) or 'none we know'}.")
    if C.SCORE not in frame.columns:
        raise LeaderboardError(f"{path}: no Score column; columns found: {', '.join(frame.columns)}.")
    return frame


def _canonical_rows(frame: pd.DataFrame, path: Path, codabench: bool) -> pd.DataFrame:
    """Typed rows: team (str), metrics (float), reproduction fields, disqualified flag."""
    rows = []
    for record in frame.to_dict("records"):
        team = str(record[C.TEAM]).strip()
        if codabench:
            team = _SUBMISSION_SUFFIX.sub("", team)
        if not team:
            raise LeaderboardError(f"{path}: a row has an empty team name.")
        row: dict = {C.TEAM: team}
        for key in (*C.METRICS, C.ONLINE_SCORE, C.DIFFERENCE):
            row[key] = _number(record.get(key), path, team, key) if key in record else math.nan
        status, reason = _text(record.get(C.STATUS)), _text(record.get(C.REASON))
        row[C.DISCREPANCY] = _flag(record.get(C.DISCREPANCY), path, team) if C.DISCREPANCY in record \
            else False
        if math.isnan(row[C.DIFFERENCE]) and not math.isnan(row[C.SCORE]) \
                and not math.isnan(row[C.ONLINE_SCORE]):
            row[C.DIFFERENCE] = row[C.SCORE] - row[C.ONLINE_SCORE]
        failed = bool(status) and status.lower() not in C.OK_STATUSES
        if not failed and math.isnan(row[C.SCORE]):
            failed, reason = True, reason or "no Score"
        row[C.STATUS] = status or ("failed" if failed else "ok")
        row[C.REASON] = reason or (status if failed else "")
        row[C.DISQUALIFIED] = failed
        rows.append(row)
    if not rows:
        raise LeaderboardError(f"{path}: the table has no rows.")
    return pd.DataFrame(rows)


def _keep_best_per_team(frame: pd.DataFrame, path: Path, codabench: bool) -> pd.DataFrame:
    """One row per team: a Codabench export lists each leaderboard submission, so keep the best;
    anywhere else a team listed twice is an error."""
    from .ranking import rank_order

    if not frame[C.TEAM].duplicated().any():
        return frame
    if not codabench:
        dups = sorted(frame.loc[frame[C.TEAM].duplicated(), C.TEAM].unique())
        raise LeaderboardError(f"{path}: teams listed twice: {', '.join(dups)}; keep one row each.")
    ordered = frame.iloc[rank_order(frame)]
    return ordered.drop_duplicates(C.TEAM, keep="first").reset_index(drop=True)


def _scores_folders(folder: Path) -> pd.DataFrame:
    rows = []
    for team_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = sorted(team_dir.rglob(SCORES_FILE))
        if not found:
            raise LeaderboardError(f"{team_dir}: no {SCORES_FILE} in this team's folder.")
        if len(found) > 1:
            raise LeaderboardError(f"{team_dir}: {len(found)} {SCORES_FILE} files; keep one per team.")
        try:
            scores = json.loads(found[0].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LeaderboardError(f"{found[0]}: not a readable scores.json ({exc}).") from exc
        if not isinstance(scores, dict):
            raise LeaderboardError(f"{found[0]}: scores.json must be a flat object of numbers.")
        rows.append({C.TEAM: team_dir.name, **{k: scores.get(k) for k in C.METRICS if k in scores}})
    if not rows:
        raise LeaderboardError(f"{folder}: no team folders (expected <team>/{SCORES_FILE}).")
    return pd.DataFrame(rows)


def load_results(path: Path) -> pd.DataFrame:
    """One row per team from a Codabench export, a CSV/JSON table or a folder of scores.json.

    Columns: team, the six metrics, online_score, difference, discrepancy, status, reason,
    disqualified (the last five default to "not a reproduction": ok, no flag).
    """
    path = Path(path)
    if path.is_dir():
        frame, codabench = _scores_folders(path), False
    else:
        frame, codabench = _read_table(path)
        frame = _rename(frame, path, codabench)
    return _keep_best_per_team(_canonical_rows(frame, path, codabench), path, codabench)


def load_subjective(path: Path) -> pd.DataFrame:
    """The tallied expert scores (``aiflash assess tally`` output): team, subjective, and counts."""
    path = Path(path)
    frame, _ = _read_table(path)
    mapping = {h: C.canonical(str(h)) for h in frame.columns}
    frame = frame.rename(columns={h: k for h, k in mapping.items() if k})
    for needed in (C.TEAM, C.SUBJECTIVE):
        if needed not in frame.columns:
            raise LeaderboardError(f"{path}: no {needed!r} column; is this the output of "
                                   f"'aiflash assess tally'?")
    out = pd.DataFrame({C.TEAM: frame[C.TEAM].astype(str).str.strip()})
    for key in (C.TOP3, C.FIRST, C.SECOND, C.THIRD, C.POINTS, C.SUBJECTIVE):
        if key in frame.columns:
            out[key] = [_number(v, path, t, key) for v, t in zip(frame[key], out[C.TEAM], strict=True)]
    if out[C.TEAM].duplicated().any():
        raise LeaderboardError(f"{path}: a team is listed twice.")
    if out[C.SUBJECTIVE].isna().any():
        raise LeaderboardError(f"{path}: a team has no subjective score.")
    out.attrs["source"] = str(path)
    return out


def load_per_image(folder: Path) -> dict[str, pd.DataFrame]:
    """Each team's per-image scores (the scorer's per_image_scores.csv), keyed by team.

    ``folder`` holds one sub-folder per team with one per_image_scores.csv somewhere inside
    (a reproduction run's ``teams/<team>/scoring/`` layout is found from the run's folder), or
    ``<team>.csv`` files. A team folder without the file (a failed run) is left out.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LeaderboardError(f"{folder}: per-image folder not found (expected <team>/{PER_IMAGE_FILE}).")
    if (folder / "teams").is_dir():
        folder = folder / "teams"
    found: dict[str, Path] = {}
    for item in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if item.is_dir():
            # A reproduction's team folder: its one scoring run (other folders hold other steps).
            scored = item / "scoring" / PER_IMAGE_FILE
            files = [scored] if scored.is_file() else sorted(item.rglob(PER_IMAGE_FILE))
            if len(files) > 1:
                raise LeaderboardError(f"{item}: {len(files)} {PER_IMAGE_FILE} files; keep one per team.")
            if files:
                found[item.name] = files[0]
        elif item.suffix.lower() == ".csv":
            found[item.stem] = item
    if not found:
        raise LeaderboardError(f"{folder}: no per-image scores (expected <team>/{PER_IMAGE_FILE} or "
                               f"<team>.csv).")
    out = {}
    for team, path in found.items():
        try:
            frame = pd.read_csv(path, dtype={"image": str}, encoding="utf-8-sig")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise LeaderboardError(f"{path}: cannot be read as a per-image table ({exc}).") from exc
        missing = [k for k in ("image", "LPIPS_person", "DeltaE_person", "PSNR_bg", "SSIM_global")
                   if k not in frame.columns]
        if missing:
            raise LeaderboardError(f"{path}: no {', '.join(missing)} column(s); give the scorer's "
                                   f"{PER_IMAGE_FILE}.")
        bad = missing_numbers(frame)
        if bad:
            raise LeaderboardError(f"{path}: column {bad[0]} holds a value that is not a number; give "
                                   f"the scorer's {PER_IMAGE_FILE} unedited.")
        frame.attrs["source"] = str(path)
        out[team] = frame
    return out


def missing_numbers(frame: pd.DataFrame) -> list[str]:
    """Scored-metric columns with a non-empty value that is not a number."""
    bad = []
    for key in ("LPIPS_person", "DeltaE_person", "PSNR_bg", "SSIM_global"):
        numbers = pd.to_numeric(frame[key], errors="coerce")
        if (numbers.isna() & frame[key].notna()).any():
            bad.append(key)
    return bad
