"""Team code submissions: one zip or folder per team in a folder, named by team.

A submission is unpacked the way Codabench unpacks it (zip root = ``/app/ingested_program``, no
descent into a wrapping folder), but more strictly: no absolute or ``..`` paths, no symbolic
links (they could point at the ground truth on a local run), bounded size.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..archives import ZipLimits, safe_extract
from ..bundle.data import sha256_file
from ..discovery import find_code_root
from .errors import ReproductionError

MAX_UNPACKED_BYTES = 20 * 1024**3
MAX_FILES = 100_000
_JUNK = ("__MACOSX", ".DS_Store")


class SubmissionUnusable(Exception):
    """The team's archive or folder cannot be used (the team's failure, not the run's)."""


@dataclass(frozen=True)
class TeamSubmission:
    team: str
    source: Path

    @property
    def is_zip(self) -> bool:
        return self.source.is_file()

    def sha256(self) -> str:
        """Content digest: of the zip's bytes, or of every (relative path, bytes) of a folder."""
        if self.is_zip:
            return sha256_file(self.source)
        digest = hashlib.sha256()
        for path in sorted(p for p in self.source.rglob("*") if p.is_file() or p.is_symlink()):
            digest.update(path.relative_to(self.source).as_posix().encode() + b"\0")
            digest.update(os.readlink(path).encode() if path.is_symlink() else path.read_bytes())
            digest.update(b"\0")
        return digest.hexdigest()


def discover(folder: Path, only: set[str] | None = None) -> list[TeamSubmission]:
    """Every ``<team>.zip`` and ``<team>/`` in ``folder``, sorted by team name."""
    if not folder.is_dir():
        raise ReproductionError(f"{folder}: submissions folder not found; pass --submissions DIR "
                                f"holding one <team>.zip or <team>/ per team.")
    teams: dict[str, TeamSubmission] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in _JUNK:
            continue
        if entry.is_file() and entry.suffix.lower() == ".zip":
            team = entry.stem
        elif entry.is_dir():
            team = entry.name
        else:
            continue
        if team in teams:
            raise ReproductionError(f"{folder}: team {team!r} has both a zip and a folder; keep one.")
        teams[team] = TeamSubmission(team, entry)
    if only is not None:
        unknown = only - set(teams)
        if unknown:
            raise ReproductionError(f"{folder}: no submission for team(s) {sorted(unknown)}.")
        teams = {k: v for k, v in teams.items() if k in only}
    if not teams:
        raise ReproductionError(f"{folder}: no team submissions (<team>.zip or <team>/) found.")
    return list(teams.values())


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p in _JUNK or p.startswith("._") for p in parts)


def _unzip(archive: Path, dest: Path) -> None:
    safe_extract(archive, dest, error=SubmissionUnusable, skip=lambda path: _is_junk(path.parts),
                 limits=ZipLimits(max_entries=MAX_FILES, max_total_bytes=MAX_UNPACKED_BYTES))


def _copy_folder(folder: Path, dest: Path) -> None:
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        for name in dirs + files:
            if (here / name).is_symlink():
                raise SubmissionUnusable(f"{here / name}: symbolic link not allowed in a submission")
        dirs[:] = [d for d in dirs if not _is_junk((d,))]
        for name in files:
            if _is_junk((name,)):
                continue
            target = dest / (here / name).relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(here / name, target)


def stage(submission: TeamSubmission, dest: Path) -> None:
    """Unpack (zip) or copy (folder) the submission into ``dest``, which is emptied first."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if submission.is_zip:
        _unzip(submission.source, dest)
    else:
        _copy_folder(submission.source, dest)
    # World-readable: the container user may differ from the file owner only by group/other.
    for root, dirs, files in os.walk(dest):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)
        for name in files:
            os.chmod(Path(root) / name, 0o644)


def layout_hint(staged: Path) -> str:
    """A hint when the ingestion program will not find the code: ``model.py`` must be at the
    submission's root or inside a single wrapping folder (``aiflash.discovery.find_code_root``)."""
    if find_code_root(staged, "model.py") is not None:
        return ""
    nested = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("model.py"))
    if nested:
        return (f"model.py is at {nested[0]}, neither at the submission's root nor in a single "
                f"wrapping folder, so the ingestion program does not find it")
    return ("the submission has no model.py: the ingestion program treats it as a result "
            "submission and restores nothing")
