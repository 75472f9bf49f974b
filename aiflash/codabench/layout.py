"""The folder ``aiflash codabench pull`` writes, laid out as the commands that read it take it:

    DIR/manifest.json                       every file: sha256, size, submission, owner, team, endpoint
    DIR/leaderboard.csv                     team + the six stored values (10 decimals): --phase2 / --online
    DIR/scoring/<team>/per_image_scores.csv (+ scores.json, detailed_results.html): --per-image phaseN=
    DIR/submissions/<team>.zip              code phase: the team's code, for `aiflash reproduce --submissions`
    DIR/predictions/<team>.zip              code phase: its online prediction output, for --online-outputs

``aiflash leaderboard``/``stats`` given such a folder as ``--phase1``/``--phase2``, and ``aiflash
reproduce`` given it as ``--submissions`` (or ``--online``/``--online-outputs``), find every part
themselves (``pulled``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..leaderboard import columns as C
from ..report import DETAILED_FILE, LEADERBOARD_KEYS, PER_IMAGE_FILE, SCORES_FILE

FORMAT = "aiflash-codabench-pull/1"
MANIFEST_FILE = "manifest.json"
LEADERBOARD_FILE = "leaderboard.csv"
SCORING_DIR = "scoring"
SUBMISSIONS_DIR = "submissions"
PREDICTIONS_DIR = "predictions"
SCORING_FILES = (PER_IMAGE_FILE, SCORES_FILE, DETAILED_FILE)  # kept from each scoring_result zip
SUBMISSION_ID = "submission_id"  # a column no reader maps (leaderboard.columns.canonical)
LEADERBOARD_COLUMNS = (C.TEAM, *LEADERBOARD_KEYS, SUBMISSION_ID)


@dataclass(frozen=True)
class Pulled:
    root: Path
    manifest: dict

    @property
    def leaderboard(self) -> Path:
        return self.root / LEADERBOARD_FILE

    @property
    def scoring(self) -> Path:
        return self.root / SCORING_DIR

    @property
    def submissions(self) -> Path:
        return self.root / SUBMISSIONS_DIR

    @property
    def predictions(self) -> Path:
        return self.root / PREDICTIONS_DIR

    @property
    def description(self) -> str:
        m = self.manifest
        return f"phase {m.get('phase')} ({m.get('phase_name')}) of competition {m.get('competition')}"


def pulled(path: Path | None) -> Pulled | None:
    """The pulled folder at ``path``: a folder holding a manifest.json of ours; else None."""
    if path is None or not Path(path).is_dir() or not (Path(path) / MANIFEST_FILE).is_file():
        return None
    try:
        manifest = json.loads((Path(path) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return Pulled(Path(path), manifest)
