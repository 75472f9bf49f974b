"""Ranking rules: objective ranking (Score, ties by LPIPS_person) and the final 30/70 ranking.

Ranks are competition ranks ("1, 2, 2, 4"): rows equal on every sort key share a rank.
Disqualified rows get no rank and sort last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..formula import final_score
from ..profile import Profile
from . import columns as C
from .sources import LeaderboardError


@dataclass(frozen=True)
class FinalSettings:
    """The final-ranking constants of a profile (``final_ranking`` in the YAML)."""

    objective_weight: float
    subjective_weight: float
    subjective_low: float
    subjective_high: float

    @property
    def subjective_mid(self) -> float:
        return (self.subjective_low + self.subjective_high) / 2

    @classmethod
    def from_profile(cls, profile: Profile) -> FinalSettings:
        raw = profile.final_ranking
        try:
            low, high = (float(v) for v in raw["subjective_range"])
            settings = cls(float(raw["objective_weight"]), float(raw["subjective_weight"]), low, high)
        except (KeyError, TypeError, ValueError) as exc:
            raise LeaderboardError(
                f"profile {profile.name!r}: final_ranking needs objective_weight, subjective_weight "
                f"and subjective_range: [low, high] ({type(exc).__name__}: {exc}).") from exc
        if not low < high:
            raise LeaderboardError(f"profile {profile.name!r}: subjective_range must be [low, high] "
                                   f"with low < high, got [{low:g}, {high:g}].")
        if settings.objective_weight < 0 or settings.subjective_weight < 0:
            raise LeaderboardError(f"profile {profile.name!r}: final_ranking weights must be >= 0.")
        return settings

    def formula(self, objective: str = "Score", subjective: str = "subjective") -> str:
        return (f"{C.FINAL} = {self.objective_weight:g} × {objective} + "
                f"{self.subjective_weight:g} × {subjective}")


def _key_columns(frame: pd.DataFrame, primary: str) -> list[np.ndarray]:
    """Sort keys, best first, missing values last: primary desc, Score desc, LPIPS asc."""
    keys = []
    for column, higher in ((primary, True), (C.SCORE, True), (C.TIE_BREAK, False)):
        if column not in frame.columns or (keys and column == primary):
            continue
        values = frame[column].astype(float).to_numpy()
        keys.append(np.where(np.isnan(values), np.inf, -values if higher else values))
    disqualified = frame[C.DISQUALIFIED].to_numpy(bool) if C.DISQUALIFIED in frame.columns \
        else np.zeros(len(frame), bool)
    return [disqualified.astype(float), *keys]


def rank_order(frame: pd.DataFrame, primary: str = C.SCORE) -> np.ndarray:
    """Row positions from best to worst (stable for full ties: input order kept)."""
    keys = _key_columns(frame, primary)
    return np.lexsort(list(reversed(keys))) if len(frame) else np.array([], int)


def ranked(frame: pd.DataFrame, primary: str = C.SCORE) -> pd.DataFrame:
    """The rows sorted best first with a ``rank`` column (None for disqualified rows)."""
    order = rank_order(frame, primary)
    out = frame.iloc[order].reset_index(drop=True)
    keys = [k[order] for k in _key_columns(frame, primary)]
    ranks: list[int | None] = []
    for i in range(len(out)):
        if keys[0][i]:  # disqualified
            ranks.append(None)
        elif i and all(k[i] == k[i - 1] for k in keys):
            ranks.append(ranks[-1])
        else:
            ranks.append(i + 1)
    out.insert(0, "rank", pd.array(ranks, dtype="Int64"))
    return out


def final_ranking(objective: pd.DataFrame, subjective: pd.DataFrame,
                  settings: FinalSettings) -> pd.DataFrame:
    """Final = objective_weight × Score + subjective_weight × subjective, for every assessed team.

    A team assessed by the experts but disqualified (or absent) in the objective results is kept,
    unranked, with the reason; teams that were not assessed are not part of the final ranking.
    """
    by_team = objective.set_index(C.TEAM)
    rows = []
    for team, subjective_score in zip(subjective[C.TEAM], subjective[C.SUBJECTIVE], strict=True):
        row = {C.TEAM: team, C.SUBJECTIVE: float(subjective_score), C.SCORE: math.nan,
               C.TIE_BREAK: math.nan, C.FINAL: math.nan, C.DISQUALIFIED: False, C.REASON: ""}
        if team not in by_team.index:
            row.update({C.DISQUALIFIED: True, C.REASON: "no objective result for this team"})
        else:
            result = by_team.loc[team]
            row[C.SCORE] = float(result[C.SCORE])
            row[C.TIE_BREAK] = float(result.get(C.TIE_BREAK, math.nan))
            if bool(result.get(C.DISQUALIFIED, False)):
                row.update({C.DISQUALIFIED: True,
                            C.REASON: str(result.get(C.REASON) or "disqualified")})
            else:
                row[C.FINAL] = float(final_score(row[C.SCORE], row[C.SUBJECTIVE],
                                                 settings.objective_weight, settings.subjective_weight))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[C.TEAM, C.FINAL, C.SCORE, C.SUBJECTIVE, C.TIE_BREAK,
                                        C.DISQUALIFIED, C.REASON])
    return ranked(frame, primary=C.FINAL)
