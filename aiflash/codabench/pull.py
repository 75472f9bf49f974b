"""``aiflash codabench pull``: one phase's leaderboard, every selected entry's scoring output and,
for a code phase, each team's code and prediction output, into the folder of ``layout.py``.

The stored values come from the submissions list (10 decimals); ``get_leaderboard`` rounds them
(``str(round(x, precision))``) and is not used. The leaderboard entry of a team is its submission
with ``on_leaderboard``; a team's submission without outputs (running, failed) is listed as
skipped with its status. Every file is recorded in manifest.json as it lands (written whole, then
renamed), so an interrupted pull, run again, fetches only what is missing or whose sha256 differs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sys
import threading
import zipfile
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ..archives import check_zip
from ..atomic import PARTIAL_SUFFIX, atomic_open, write_text
from ..bundle.data import sha256_file
from ..errors import CodabenchError
from . import layout as L
from .client import CodabenchClient

_TEAM_NAME = re.compile(r"^[\w@+-][\w.@+-]*$")  # Codabench usernames: letters, digits and @.+-_
_SCRATCH = ".pull-tmp"
SCORING, CODE, PREDICTION = "scoring_result", "data_file", "prediction_result"  # get_details fields


@dataclass(frozen=True)
class Entry:
    """A team's leaderboard submission."""
    team: str
    submission_id: int
    scores: dict[str, str]  # column key -> the stored value as the site wrote it
    code_phase: bool


@dataclass(frozen=True)
class Artifact:
    entry: Entry
    field: str
    paths: tuple[str, ...]  # relative to the pull folder

    @property
    def endpoint(self) -> str:
        return f"GET /api/submissions/{self.entry.submission_id}/get_details/ -> {self.field}"


@dataclass
class PullResult:
    folder: Path
    entries: list[Entry]
    fetched: int
    kept: int
    skipped: list[dict] = field(default_factory=list)


def phase_of(competition: dict, number: int) -> dict:
    """Phase N (1-based, in index order, as ``--phase`` everywhere in aiflash)."""
    phases = sorted(competition.get("phases") or [], key=lambda p: p.get("index", 0))
    if not 1 <= number <= len(phases):
        names = "; ".join(f"{i} = {p.get('name')}" for i, p in enumerate(phases, start=1))
        raise CodabenchError(f"--phase {number}: competition {competition.get('id')} has {len(phases)} "
                             f"phase(s) ({names}).")
    return phases[number - 1]


def primary_column(competition: dict) -> tuple[str, bool]:
    """(column key, higher is better) of the competition's ranking column."""
    boards = competition.get("leaderboards") or []
    columns = sorted((boards[0].get("columns") if boards else None) or [], key=lambda c: c.get("index", 0))
    if not columns:
        return "Score", True
    index = boards[0].get("primary_index", 0) or 0
    column = next((c for c in columns if c.get("index") == index), columns[0])
    return str(column.get("key")), column.get("sorting", "desc") != "asc"


def _number(text: object) -> float:
    try:
        return float(str(text))
    except ValueError:
        return float("nan")


def entries_of(submissions: list[dict], competition: dict) -> tuple[list[Entry], dict[str, list[dict]]]:
    """Ranked leaderboard entries (one per owner) and every submission by owner."""
    by_owner: dict[str, list[dict]] = {}
    for record in submissions:
        by_owner.setdefault(str(record.get("owner")), []).append(record)
    key, higher = primary_column(competition)
    entries = []
    for owner, records in sorted(by_owner.items()):
        on_board = [r for r in records if r.get("on_leaderboard") and r.get("status") == "Finished"]
        if not on_board:
            continue
        if not _TEAM_NAME.match(owner):
            raise CodabenchError(f"owner {owner!r} of submission {on_board[0].get('id')} cannot name a "
                                 f"team folder; rename the account or pull with --teams.")
        best = max(on_board, key=lambda r: int(r["id"]))
        scores = {str(s.get("column_key")): str(s.get("score")) for s in best.get("scores") or []}
        task = best.get("task") if isinstance(best.get("task"), dict) else {}
        entries.append(Entry(owner, int(best["id"]), scores, bool(task.get("ingestion_program"))))
    sign = -1 if higher else 1
    entries.sort(key=lambda e: (sign * _number(e.scores.get(key)), e.submission_id))
    return entries, by_owner


def select(entries: list[Entry], by_owner: dict[str, list[dict]], top: int | None,
           teams: list[str] | None) -> tuple[list[Entry], list[dict]]:
    """The entries asked for, and the submissions of those teams that have no outputs (skipped)."""
    skipped = []
    if teams:
        unknown = [t for t in teams if t not in by_owner]
        if unknown:
            raise CodabenchError(f"--teams: no submissions by {', '.join(unknown)} in this phase; teams "
                                 f"(owners) here: {', '.join(sorted(by_owner)) or 'none'}.")
        chosen = [e for e in entries if e.team in teams]
        for team in teams:
            if team not in {e.team for e in chosen}:
                skipped.append({"team": team, "owner": team, "submission_id": None, "status": None,
                                "reason": "no finished submission on the leaderboard"})
    else:
        chosen = entries[:top] if top else entries
    for team in [e.team for e in chosen] + [s["team"] for s in list(skipped)]:
        for record in sorted(by_owner.get(team, []), key=lambda r: int(r["id"])):
            if record.get("status") != "Finished":
                details = record.get("status_details")
                skipped.append({"team": team, "owner": team, "submission_id": int(record["id"]),
                                "status": record.get("status"),
                                "reason": f"no outputs ({record.get('status')}"
                                          + (f": {details}" if details and record.get("status") == "Failed"
                                             else "") + ")"})
    return chosen, skipped


def artifacts_of(entry: Entry) -> list[Artifact]:
    scoring = tuple(f"{L.SCORING_DIR}/{entry.team}/{name}" for name in L.SCORING_FILES)
    found = [Artifact(entry, SCORING, scoring)]
    if entry.code_phase:
        found.append(Artifact(entry, CODE, (f"{L.SUBMISSIONS_DIR}/{entry.team}.zip",)))
        found.append(Artifact(entry, PREDICTION, (f"{L.PREDICTIONS_DIR}/{entry.team}.zip",)))
    return found


def leaderboard_csv(entries: list[Entry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(L.LEADERBOARD_COLUMNS)
    for entry in entries:
        writer.writerow([entry.team, *(entry.scores.get(k, "") for k in L.LEADERBOARD_COLUMNS[1:-1]),
                         entry.submission_id])
    return buffer.getvalue()


class Manifest:
    """manifest.json, rewritten whole after every file that lands (thread-safe)."""

    def __init__(self, folder: Path, header: dict):
        self.path = folder / L.MANIFEST_FILE
        self.folder = folder
        self.header = header
        self.files: dict[str, dict] = {}
        self.skipped: list[dict] = []
        self._lock = threading.Lock()

    @staticmethod
    def previous(folder: Path, competition: int, phase: int) -> dict[str, dict]:
        existing = L.pulled(folder)
        if existing is None:
            return {}
        m = existing.manifest
        if (m.get("competition"), m.get("phase")) != (competition, phase):
            raise CodabenchError(f"{folder}: holds a pull of {existing.description}, not phase {phase} of "
                                 f"competition {competition}; give another --output folder.")
        return {f["path"]: f for f in m.get("files", []) if isinstance(f, dict) and "path" in f}

    def add(self, record: dict) -> None:
        with self._lock:
            self.files[record["path"]] = record
            self.write()

    def write(self) -> None:
        body = {**self.header, "files": [self.files[p] for p in sorted(self.files)], "skipped": self.skipped}
        write_text(self.path, json.dumps(body, indent=2) + "\n")


def _unchanged(folder: Path, artifact: Artifact, previous: dict[str, dict]) -> list[dict] | None:
    """The previous records of an artifact's files when all are there with their sha256."""
    records = []
    for rel in artifact.paths:
        record = previous.get(rel)
        path = folder / rel
        if record is None or record.get("submission_id") != artifact.entry.submission_id \
                or not path.is_file() or sha256_file(path) != record.get("sha256"):
            return None
        records.append(record)
    return records


def _record(rel: str, digest: str, size: int, artifact: Artifact) -> dict:
    entry = artifact.entry
    return {"path": rel, "sha256": digest, "bytes": size, "submission_id": entry.submission_id,
            "owner": entry.team, "team": entry.team, "endpoint": artifact.endpoint}


class _Puller:
    def __init__(self, client: CodabenchClient, folder: Path, manifest: Manifest, bar: tqdm):
        self.client, self.folder, self.manifest, self.bar = client, folder, manifest, bar
        self.scratch = folder / _SCRATCH

    def fetch(self, entry: Entry, artifacts: list[Artifact]) -> list[dict]:
        """Every missing artifact of one entry; returns the skipped ones."""
        details = self.client.details(entry.submission_id)
        skipped = []
        for artifact in artifacts:
            url = details.get(artifact.field)
            if not url:
                skipped.append({"team": entry.team, "owner": entry.team, "submission_id": entry.submission_id,
                                "status": "Finished", "reason": f"the site lists no {artifact.field}"})
            elif artifact.field == SCORING:
                skipped += self._scoring(artifact, url)
            else:
                rel = artifact.paths[0]
                (self.folder / rel).parent.mkdir(parents=True, exist_ok=True)
                digest, size = self.client.download(url, self.folder / rel, self._what(artifact))
                self.manifest.add(_record(rel, digest, size, artifact))
            self.bar.update(1)
        return skipped

    def _what(self, artifact: Artifact) -> str:
        return f"{artifact.field} of submission {artifact.entry.submission_id} ({artifact.entry.team})"

    def _scoring(self, artifact: Artifact, url: str) -> list[dict]:
        """Download the scoring_result zip to scratch and keep the scorer's three files."""
        what = self._what(artifact)
        archive = self.scratch / f"{artifact.entry.submission_id}-{SCORING}.zip"
        self.client.download(url, archive, what)
        try:
            entries = {e.path: e for e in check_zip(archive, error=lambda m: CodabenchError(f"{what}: {m}"))}
            missing = []
            with zipfile.ZipFile(archive) as opened:
                for rel in artifact.paths:
                    member = entries.get(PurePosixPath(PurePosixPath(rel).name))
                    if member is None:
                        missing.append(PurePosixPath(rel).name)
                        continue
                    target = self.folder / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    digest, size = _copy_member(opened, member.info, target)
                    self.manifest.add(_record(rel, digest, size, artifact))
        finally:
            archive.unlink(missing_ok=True)
        if not missing:
            return []
        entry = artifact.entry
        return [{"team": entry.team, "owner": entry.team, "submission_id": entry.submission_id,
                 "status": "Finished", "reason": f"its scoring output has no {', '.join(missing)}"}]


def _copy_member(opened, info, target: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with opened.open(info) as source, atomic_open(target) as out:
        while chunk := source.read(1 << 20):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _clean_leftovers(folder: Path) -> None:
    """What a killed run may have left: the scratch folder and unfinished ``.partial`` files."""
    shutil.rmtree(folder / _SCRATCH, ignore_errors=True)
    for leftover in folder.rglob(f"*{PARTIAL_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def _prune(folder: Path, manifest: Manifest) -> None:
    """Files of an earlier pull that this one does not list (a team no longer selected, or its older
    entry): removed, so the readers see exactly the teams of leaderboard.csv."""
    for sub in (L.SCORING_DIR, L.SUBMISSIONS_DIR, L.PREDICTIONS_DIR):
        for path in sorted((folder / sub).rglob("*"), reverse=True):
            if path.is_file() and path.relative_to(folder).as_posix() not in manifest.files:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def pull(client: CodabenchClient, competition_id: int, number: int, folder: Path, top: int | None = None,
         teams: list[str] | None = None, jobs: int = 4) -> PullResult:
    competition = client.competition(competition_id)
    chosen_phase = phase_of(competition, number)
    phase_id = int(chosen_phase["id"])
    previous = Manifest.previous(folder, competition_id, number)
    submissions = client.submissions(phase_id)
    entries, by_owner = entries_of(submissions, competition)
    chosen, skipped = select(entries, by_owner, top, teams)
    folder.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(folder)
    (folder / _SCRATCH).mkdir()
    header = {"format": L.FORMAT, "site": client.site, "competition": competition_id,
              "competition_title": competition.get("title"), "phase": number, "phase_id": phase_id,
              "phase_name": chosen_phase.get("name"), "code_phase": any(e.code_phase for e in chosen),
              "selection": {"top": top, "teams": teams},
              "pulled": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "teams": [{"rank": i, "team": e.team, "owner": e.team, "submission_id": e.submission_id}
                        for i, e in enumerate(chosen, start=1)]}
    manifest = Manifest(folder, header)
    manifest.skipped = skipped
    board = folder / L.LEADERBOARD_FILE
    write_text(board, leaderboard_csv(chosen))
    manifest.files[L.LEADERBOARD_FILE] = {
        "path": L.LEADERBOARD_FILE, "sha256": sha256_file(board), "bytes": board.stat().st_size,
        "submission_id": None, "owner": None, "team": None,
        "endpoint": f"GET /api/submissions/?phase={phase_id}"}
    todo: dict[int, list[Artifact]] = {}
    kept = 0
    for entry in chosen:
        for artifact in artifacts_of(entry):
            records = _unchanged(folder, artifact, previous)
            if records is None:
                todo.setdefault(entry.submission_id, []).append(artifact)
            else:
                kept += len(records)
                for record in records:
                    manifest.files[record["path"]] = record
    manifest.write()
    fetched = sum(len(a) for a in todo.values())
    with tqdm(total=fetched, desc="pull", unit="file", file=sys.stderr) as bar:
        puller = _Puller(client, folder, manifest, bar)
        try:
            with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="pull") as pool:
                futures = [pool.submit(puller.fetch, artifacts[0].entry, artifacts)
                           for artifacts in todo.values()]
                done, pending = wait(futures, return_when=FIRST_EXCEPTION)
                for future in pending:
                    future.cancel()
                failures = [f.exception() for f in done if f.exception() is not None]
                if failures:
                    raise failures[0]
                for future in futures:
                    manifest.skipped += future.result()
            _prune(folder, manifest)
        finally:
            manifest.write()
            shutil.rmtree(folder / _SCRATCH, ignore_errors=True)
    return PullResult(folder, chosen, fetched, kept, manifest.skipped)
