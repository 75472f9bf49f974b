"""``assess tally``: check every vote file against the key, count Top-3 picks per team, normalise.

A vote file is refused (one message naming the file and the fix) when it is not JSON or not a
vote export, belongs to another assessment or to a page the key does not know, repeats a page
another file already covers, leaves an image without a full Top-3, names an image that is not
on its page, or names a label the image does not have. Given ``pages_dir``, the page files must
also be the very files the key recorded (sha256).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..leaderboard import columns as C
from .model import TOP, VOTES_FORMAT, AssessmentError, Key


@dataclass(frozen=True)
class Ballot:
    """One expert's validated votes: image id -> labels ranked 1st, 2nd, 3rd."""

    path: Path
    expert: str
    page_id: str
    votes: dict[str, tuple[str, ...]]


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise AssessmentError(f"the JSON object has the key {key!r} twice")
        seen[key] = value
    return seen


def read_ballot(path: Path, key: Key) -> Ballot:
    """A vote file checked against the key; raises AssessmentError naming the first problem."""
    name = Path(path).name
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"), object_pairs_hook=_no_duplicate_keys)
    except AssessmentError as exc:
        raise AssessmentError(f"{name}: duplicated entry: {exc}; export the votes again.") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AssessmentError(f"{name}: not a readable JSON vote file ({exc}).") from exc
    if not isinstance(raw, dict) or raw.get("format") != VOTES_FORMAT:
        raise AssessmentError(f"{name}: not a vote file exported by the assessment page "
                              f"(expected \"format\": {VOTES_FORMAT!r}).")
    if raw.get("assessment_id") != key.assessment_id:
        raise AssessmentError(
            f"{name}: made for assessment {raw.get('assessment_id')!r} but the key is for "
            f"{key.assessment_id!r}: the key does not match the pages this expert voted on.")
    record = key.page(str(raw.get("page_id")))
    if record is None:
        raise AssessmentError(f"{name}: page id {raw.get('page_id')!r} is not in the key: the key does "
                              f"not match the pages this expert voted on.")
    if raw.get("expert") != record.expert:
        raise AssessmentError(f"{name}: says expert {raw.get('expert')!r} but its page belongs to "
                              f"expert {record.expert!r}; the file was edited.")
    votes = raw.get("votes")
    if not isinstance(votes, dict):
        raise AssessmentError(f"{name}: has no \"votes\" object.")
    expected = set(record.order)
    unknown = sorted(set(votes) - expected)
    if unknown:
        raise AssessmentError(f"{name}: votes for image(s) not on expert {record.expert}'s page: "
                              f"{', '.join(unknown[:5])}.")
    missing = sorted(expected - set(votes))
    if missing:
        raise AssessmentError(
            f"{name}: incomplete: {len(missing)} of {len(expected)} image(s) have no Top-{TOP} "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); ask expert "
            f"{record.expert} to finish and export again.")
    clean = {}
    for image in record.order:
        picks = votes[image]
        labels = key.labels[image]
        if not isinstance(picks, list) or len(picks) != TOP or not all(isinstance(p, str) for p in picks):
            raise AssessmentError(f"{name}: image {image}: expected a Top-{TOP} list of labels "
                                  f"[1st, 2nd, 3rd], got {picks!r}; incomplete vote.")
        strange = [p for p in picks if p not in labels]
        if strange:
            raise AssessmentError(f"{name}: image {image}: label(s) {', '.join(map(repr, strange))} "
                                  f"unknown; this image's labels are {', '.join(sorted(labels))}.")
        if len(set(picks)) != TOP:
            raise AssessmentError(f"{name}: image {image}: the Top-{TOP} names a label twice "
                                  f"({', '.join(picks)}); each rank needs a different result.")
        clean[image] = tuple(picks)
    return Ballot(Path(path), record.expert, record.page_id, clean)


def check_pages(key: Key, pages_dir: Path) -> None:
    """Every page the key records exists in ``pages_dir`` with the recorded sha256."""
    for record in key.pages:
        path = Path(pages_dir) / record.file
        if not path.is_file():
            raise AssessmentError(f"{path}: page of expert {record.expert} not found; the key does not "
                                  f"match these pages.")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != record.sha256:
            raise AssessmentError(f"{path}: differs from the page the key recorded (sha256); the key "
                                  f"does not match these pages.")


def read_ballots(paths: list[Path], key: Key, allow_missing_experts: bool = False) -> list[Ballot]:
    ballots: list[Ballot] = []
    for path in paths:
        ballot = read_ballot(path, key)
        twin = next((b for b in ballots if b.page_id == ballot.page_id), None)
        if twin is not None:
            raise AssessmentError(f"{Path(path).name} and {twin.path.name} are both votes of expert "
                                  f"{ballot.expert} (same page); duplicated vote file: keep one.")
        ballots.append(ballot)
    if not ballots:
        raise AssessmentError("no vote files given.")
    absent = [p.expert for p in key.pages if p.page_id not in {b.page_id for b in ballots}]
    if absent and not allow_missing_experts:
        raise AssessmentError(f"no vote file from expert(s) {', '.join(absent)}; wait for them or pass "
                              f"--allow-missing-experts.")
    return ballots


def parse_rank_weights(text: str) -> tuple[float, ...]:
    try:
        weights = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise AssessmentError(f"--rank-weights {text!r}: expected {TOP} numbers like 3,2,1.") from None
    if len(weights) != TOP or any(w < 0 for w in weights) or not any(weights):
        raise AssessmentError(f"--rank-weights {text!r}: expected {TOP} non-negative numbers like 3,2,1.")
    return weights


def normalise_points(points: np.ndarray, low: float, high: float) -> np.ndarray:
    """Linear map of points to [low, high] along the last axis (one row of teams per resample):
    most points -> high, fewest -> low, all equal -> middle."""
    points = np.asarray(points, dtype=float)
    least, most = points.min(axis=-1, keepdims=True), points.max(axis=-1, keepdims=True)
    spread = most - least
    scaled = (points - least) / np.where(spread > 0, spread, 1.0)
    return np.where(spread > 0, low + (high - low) * scaled, (low + high) / 2)


def normalise(points: dict[str, float], low: float, high: float) -> dict[str, float]:
    """Linear map of points to [low, high]: most points -> high, fewest -> low, all equal -> middle."""
    if not points:
        return {}
    mapped = normalise_points(np.array(list(points.values())), low, high)
    return {team: float(v) for team, v in zip(points, mapped, strict=True)}


def points_tensor(ballots: list[Ballot], key: Key,
                  rank_weights: tuple[float, ...] = (1.0,) * TOP) -> np.ndarray:
    """Votes as points[expert, image, team] (the order of ``ballots``, ``key.images``,
    ``key.teams``): the rank weight of the place the expert gave that team on that image."""
    images = {image: i for i, image in enumerate(key.images)}
    teams = {team: t for t, team in enumerate(key.teams)}
    points = np.zeros((len(ballots), len(images), len(teams)))
    for e, ballot in enumerate(ballots):
        for image, picks in ballot.votes.items():
            for rank, label in enumerate(picks):
                points[e, images[image], teams[key.labels[image][label]]] = rank_weights[rank]
    return points


def vote_files(items: list[Path]) -> list[Path]:
    """Vote files named directly or found (``*.json``) in the given folders."""
    files: list[Path] = []
    for item in items:
        if item.is_dir():
            files += sorted(item.glob("*.json"))
        elif item.is_file():
            files.append(item)
        else:
            raise AssessmentError(f"{item}: vote file or folder not found.")
    return files


def tally(ballots: list[Ballot], key: Key, low: float, high: float,
          rank_weights: tuple[float, ...] = (1.0,) * TOP) -> pd.DataFrame:
    """Per team: Top-3 counts, weighted points, and the subjective score in [low, high]."""
    counts = {team: [0] * TOP for team in key.teams}
    for ballot in ballots:
        for image, picks in ballot.votes.items():
            for rank, label in enumerate(picks):
                counts[key.labels[image][label]][rank] += 1
    points = {t: float(sum(w * n for w, n in zip(rank_weights, c, strict=True))) for t, c in counts.items()}
    subjective = normalise(points, low, high)
    frame = pd.DataFrame({
        C.TEAM: list(key.teams),
        C.TOP3: [sum(counts[t]) for t in key.teams],
        C.FIRST: [counts[t][0] for t in key.teams],
        C.SECOND: [counts[t][1] for t in key.teams],
        C.THIRD: [counts[t][2] for t in key.teams],
        C.POINTS: [points[t] for t in key.teams],
        C.SUBJECTIVE: [subjective[t] for t in key.teams],
    })
    return frame.sort_values([C.SUBJECTIVE, C.TEAM], ascending=[False, True]).reset_index(drop=True)
