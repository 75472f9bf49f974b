"""How much the final ranking rests on the experts: their agreement, the confidence of the
subjective score, leave-one-expert-out and the sensitivity to the objective/subjective weights.

Votes arrive as ``points[expert, image, team]`` (``assess.tally.points_tensor``): the rank weight
an expert gave a team on an image (0 outside its Top-3). The subjective score is the tally's:
points summed over experts and images, mapped linearly to the profile's subjective range
(``assess.tally.normalise_points``); Final = objective weight × Score + subjective weight ×
subjective (the leaderboard's final ranking).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..assess.model import Key
from ..assess.tally import Ballot, normalise_points, points_tensor
from ..errors import StatisticsError
from ..formula import final_score
from ..profile import StatisticsSettings
from .resample import RankConfidence, interval, rank_confidence, rng

# An expert whose counts correlate with the others' this much less than the median expert does
# is named as an outlier (Spearman's rho; agreeing experts sit near 1, random ones near 0).
OUTLIER_MARGIN = 0.3
_SUBJECTIVE_STREAM, _FINAL_STREAM = 1, 2


@dataclass(frozen=True)
class Votes:
    """Every expert's Top-3 picks as arrays over (expert, image, team)."""

    experts: tuple[str, ...]
    images: tuple[str, ...]
    teams: tuple[str, ...]
    points: np.ndarray  # rank weight of the place given (0: not in the expert's Top-3)
    picked: np.ndarray  # bool: in the expert's Top-3 on that image

    def totals(self) -> np.ndarray:
        """(experts, teams): each expert's points per team over all images."""
        return self.points.sum(axis=1)


def votes_from_ballots(ballots: list[Ballot], key: Key, rank_weights: tuple[float, ...]) -> Votes:
    """The validated vote files (``assess.tally.read_ballots``) as arrays."""
    return Votes(tuple(b.expert for b in ballots), key.images, key.teams,
                 points_tensor(ballots, key, rank_weights),
                 points_tensor(ballots, key, (1.0,) * len(rank_weights)) > 0)


@dataclass(frozen=True)
class FinalWeights:
    objective: float
    subjective: float
    low: float  # the subjective range
    high: float

    def final(self, score, subjective) -> np.ndarray:
        return final_score(score, subjective, self.objective, self.subjective)


@dataclass(frozen=True)
class Agreement:
    """Agreement among the experts on the teams and on the images."""

    experts: tuple[str, ...]
    kendall_w: float  # over each expert's ranking of the teams by their points (ties corrected)
    w_p_value: float  # Friedman's chi-square test of "no agreement"
    mean_spearman: float  # (m W - 1) / (m - 1): the chance-corrected W (0 = chance, 1 = unanimous)
    fleiss_kappa: float  # on per-image Top-3 membership, every (image, team) a subject
    per_expert: np.ndarray  # Spearman's rho of each expert's points with the sum of the others'
    outliers: tuple[str, ...]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"expert": list(self.experts), "rho_with_others": self.per_expert,
                             "outlier": [e in self.outliers for e in self.experts]})


@dataclass(frozen=True)
class Ranking:
    """One ranking with its bootstrap interval (teams in published order, best first)."""

    teams: tuple[str, ...]
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    ranks: RankConfidence

    def table(self, name: str) -> pd.DataFrame:
        return pd.DataFrame({
            "team": list(self.teams), name: self.value, f"{name}_low": self.low,
            f"{name}_high": self.high, "rank_low": self.ranks.rank_low,
            "rank_high": self.ranks.rank_high, "p_ahead": self.ranks.ahead,
            "tied_with_next": self.ranks.tied_with_next})


@dataclass(frozen=True)
class RankChange:
    team: str
    before: int
    after: int


@dataclass(frozen=True)
class LeaveOneOut:
    expert: str
    order: tuple[str, ...]  # the final ranking without this expert
    changes: tuple[RankChange, ...]


@dataclass(frozen=True)
class Swap:
    """Two teams whose final order flips when the objective weight crosses ``objective_weight``
    (the subjective weight being the rest of the profile's total)."""

    upper: str  # ahead at the profile's weights
    lower: str
    objective_weight: float
    subjective_weight: float


@dataclass(frozen=True)
class WeightSensitivity:
    objective_weight: float
    total: float
    swaps: tuple[Swap, ...]  # nearest to the profile's weights first
    stable_low: float  # the ranking is unchanged for objective weights in (stable_low, stable_high)
    stable_high: float


@dataclass(frozen=True)
class ExpertStatistics:
    experts: tuple[str, ...]
    agreement: Agreement | None  # None with a single expert
    subjective: Ranking
    final: Ranking | None  # None without objective Scores
    leave_one_out: tuple[LeaveOneOut, ...]
    weights: WeightSensitivity | None


def kendalls_w(totals: np.ndarray) -> tuple[float, float]:
    """Kendall's W of experts (rows) ranking teams (columns), ties corrected, and its p-value.

    W = Friedman's chi-square / (m (n - 1)) (scipy.stats.friedmanchisquare, experts as blocks).
    NaN when every expert gives every team the same points (nothing to agree on)."""
    from scipy import stats  # here: see link.py's docstring

    experts, teams = totals.shape
    if experts < 2 or teams < 3:
        return float("nan"), float("nan")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = stats.friedmanchisquare(*totals.T)
        except ValueError:  # all ties in every block
            return float("nan"), float("nan")
    return float(result.statistic / (experts * (teams - 1))), float(result.pvalue)


def fleiss_kappa(picked: np.ndarray) -> float:
    """Fleiss' kappa: raters = experts (axis 0), subjects = every other cell, two categories
    (picked or not). 1 = unanimous, 0 = chance agreement."""
    raters = picked.shape[0]
    if raters < 2:
        return float("nan")
    yes = picked.reshape(raters, -1).sum(axis=0).astype(float)
    counts = np.stack([yes, raters - yes], axis=1)  # subjects x categories
    agreement = ((counts**2).sum(axis=1) - raters) / (raters * (raters - 1))
    shares = counts.sum(axis=0) / counts.sum()
    expected = float((shares**2).sum())
    if expected >= 1:
        return float("nan")
    return float((agreement.mean() - expected) / (1 - expected))


def agreement(votes: Votes) -> Agreement | None:
    from scipy import stats  # here: see link.py's docstring

    experts = len(votes.experts)
    if experts < 2:
        return None
    totals = votes.totals()
    w, p = kendalls_w(totals)
    per_expert = np.full(experts, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant expert has no correlation (NaN)
        for e in range(experts):
            others = totals.sum(axis=0) - totals[e]
            per_expert[e] = stats.spearmanr(totals[e], others).statistic
    median = float(np.nanmedian(per_expert)) if experts > 2 else np.nan
    outliers = tuple(name for name, rho in zip(votes.experts, per_expert, strict=True)
                     if experts > 2 and (np.isnan(rho) or rho < median - OUTLIER_MARGIN))
    return Agreement(votes.experts, w, p, (experts * w - 1) / (experts - 1), fleiss_kappa(votes.picked),
                     per_expert, outliers)


def _final_order(final: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Positions best first: Final, then Score (the leaderboard's tie-break)."""
    return np.lexsort((-score, -final))


def _ranking(teams: list[str], value: np.ndarray, order: np.ndarray, distribution: np.ndarray,
             settings: StatisticsSettings) -> Ranking:
    low, high = interval(distribution[order], settings)
    return Ranking(tuple(teams[i] for i in order), value[order], low, high,
                   rank_confidence(distribution[order], settings))


def expert_statistics(votes: Votes, weights: FinalWeights, settings: StatisticsSettings,
                      scores: Mapping[str, float] | None = None,
                      score_distribution: Mapping[str, np.ndarray] | None = None) -> ExpertStatistics:
    """Everything about the experts' part of the final ranking.

    ``scores``: the objective Score of every assessed team in the final ranking (disqualified
    teams left out); ``score_distribution``: their bootstrap Scores (from ``objective``), so the
    final intervals carry both uncertainties; without it the Score counts as exact.
    """
    experts, images, teams = votes.points.shape
    if experts < 1 or images < 1:
        raise StatisticsError("no votes to analyse: give the experts' vote files.")
    team_names = list(votes.teams)
    total = votes.points.sum(axis=(0, 1))
    subjective = normalise_points(total, weights.low, weights.high)

    # Two-way bootstrap: experts and images drawn with replacement, independently. scipy's
    # bootstrap resamples one axis, so the counts of each draw are taken from the same seeded
    # generator directly.
    generator = rng(settings, _SUBJECTIVE_STREAM)
    expert_counts = generator.multinomial(experts, np.full(experts, 1 / experts), settings.resamples)
    image_counts = generator.multinomial(images, np.full(images, 1 / images), settings.resamples)
    by_image = np.einsum("be,eit->bit", expert_counts, votes.points)
    points_b = np.einsum("bi,bit->bt", image_counts, by_image)
    subjective_b = normalise_points(points_b, weights.low, weights.high).T  # (teams, resamples)
    order = np.lexsort((np.arange(teams), -subjective))
    subjective_ranking = _ranking(team_names, subjective, order, subjective_b, settings)

    final_ranking, leave_one_out, sensitivity = None, (), None
    eligible = [t for t in team_names if scores is not None and t in scores]
    if eligible:
        idx = np.array([team_names.index(t) for t in eligible])
        score = np.array([float(scores[t]) for t in eligible])
        if score_distribution is not None and all(t in score_distribution for t in eligible):
            score_b = np.stack([np.asarray(score_distribution[t], float) for t in eligible])
            # The objective resamples (over the test images) are independent of these: shuffle
            # their order so resample b of one is not tied to resample b of the other.
            score_b = score_b[:, rng(settings, _FINAL_STREAM).permutation(score_b.shape[1])]
            if score_b.shape[1] != settings.resamples:
                raise StatisticsError("the objective bootstrap used another number of resamples.")
        else:
            score_b = np.repeat(score[:, None], settings.resamples, axis=1)
        final = weights.final(score, subjective[idx])
        final_b = weights.final(score_b, subjective_b[idx])
        final_order = _final_order(final, score)
        final_ranking = _ranking(eligible, final, final_order, final_b, settings)
        leave_one_out = _leave_one_out(votes, weights, eligible, idx, score, final_order)
        sensitivity = weight_sensitivity(eligible, score, subjective[idx], weights)
    return ExpertStatistics(votes.experts, agreement(votes), subjective_ranking, final_ranking,
                            leave_one_out, sensitivity)


def _leave_one_out(votes: Votes, weights: FinalWeights, eligible: list[str], idx: np.ndarray,
                   score: np.ndarray, full_order: np.ndarray) -> tuple[LeaveOneOut, ...]:
    if len(votes.experts) < 2:
        return ()
    before = {eligible[i]: rank for rank, i in enumerate(full_order, 1)}
    out = []
    for e, expert in enumerate(votes.experts):
        total = np.delete(votes.points, e, axis=0).sum(axis=(0, 1))
        subjective = normalise_points(total, weights.low, weights.high)[idx]
        order = _final_order(weights.final(score, subjective), score)
        names = tuple(eligible[i] for i in order)
        changes = tuple(RankChange(team, before[team], rank) for rank, team in enumerate(names, 1)
                        if before[team] != rank)
        out.append(LeaveOneOut(expert, names, changes))
    return tuple(out)


def weight_sensitivity(teams: list[str], score: np.ndarray, subjective: np.ndarray,
                       weights: FinalWeights) -> WeightSensitivity:
    """The objective weights (total weight kept) at which any two teams swap in the final ranking.

    Final_i - Final_j = w (S_i - S_j) + (total - w) (J_i - J_j) is linear in the objective weight
    w, so each pair swaps at most once, where it crosses zero."""
    total = weights.objective + weights.subjective
    current = weights.final(score, subjective)
    swaps = []
    for i in range(len(teams)):
        for j in range(i + 1, len(teams)):
            d_score, d_subjective = score[i] - score[j], subjective[i] - subjective[j]
            slope = d_score - d_subjective
            if slope == 0:
                continue
            w = -total * d_subjective / slope
            # Strictly inside: at an end of the range the two only become equal, never swap.
            if not 0 < w < total or np.isclose(w, weights.objective):
                continue
            upper, lower = (i, j) if current[i] > current[j] or (
                current[i] == current[j] and score[i] >= score[j]) else (j, i)
            swaps.append(Swap(teams[upper], teams[lower], float(w), float(total - w)))
    swaps.sort(key=lambda s: (abs(s.objective_weight - weights.objective), s.upper, s.lower))
    below = [s.objective_weight for s in swaps if s.objective_weight < weights.objective]
    above = [s.objective_weight for s in swaps if s.objective_weight > weights.objective]
    return WeightSensitivity(weights.objective, total, tuple(swaps), max(below, default=0.0),
                             min(above, default=total))
