"""How sure the objective ranking is: a bootstrap over images of every team's Score.

Each resample draws the images with replacement (the same draw for every team: paired), takes
the per-metric means over the drawn images (where defined, as the scorer does, spec §3) and
applies the full Score formula (``formula.score_arrays``, vectorised). From the joint
distribution: each Score's interval, each rank's interval, and for each pair of neighbours the
probability that the upper one is truly ahead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import StatisticsError
from ..formula import score_arrays
from ..profile import SCORED_METRICS, Profile, StatisticsSettings
from .resample import RankConfidence, paired_bootstrap, rank_confidence

IMAGE = "image"  # the per-image table's image column (the scorer's per_image_scores.csv)
TOLERANCE = 1e-3  # spec §6: a per-image table must give the published Score to this


@dataclass(frozen=True)
class ObjectiveUncertainty:
    """Per team, in published rank order: Score, its interval, rank interval, P(ahead of next)."""

    teams: tuple[str, ...]
    images: int
    score: np.ndarray
    score_low: np.ndarray
    score_high: np.ndarray
    ranks: RankConfidence
    distribution: np.ndarray  # (teams, resamples): the bootstrap Scores, for the final ranking
    settings: StatisticsSettings

    def table(self) -> pd.DataFrame:
        """One row per team: team, Score, score_low/high, rank_low/high, p_ahead, tied_with_next."""
        return pd.DataFrame({
            "team": list(self.teams), "Score": self.score, "score_low": self.score_low,
            "score_high": self.score_high, "rank_low": self.ranks.rank_low,
            "rank_high": self.ranks.rank_high, "p_ahead": self.ranks.ahead,
            "tied_with_next": self.ranks.tied_with_next,
        })


def aligned_metrics(per_image: Mapping[str, pd.DataFrame]) -> tuple[list[str], dict[str, np.ndarray]]:
    """The images every team was scored on, and each metric as a (teams, images) array.

    Paired resampling needs the same images for every team; a team scored on other images is an
    error naming the team (its per-image table comes from another data set or an incomplete run).
    """
    if not per_image:
        raise StatisticsError("no per-image scores given: pass the per_image_scores.csv of each team.")
    teams = list(per_image)
    reference = None
    frames = {}
    for team in teams:
        frame = per_image[team]
        missing = [k for k in (IMAGE, *SCORED_METRICS) if k not in frame.columns]
        if missing:
            raise StatisticsError(f"team {team!r}: per-image table lacks {', '.join(missing)}; use the "
                                  f"scorer's per_image_scores.csv.")
        images = frame[IMAGE].astype(str)
        if images.duplicated().any():
            raise StatisticsError(f"team {team!r}: image {images[images.duplicated()].iloc[0]!r} is "
                                  f"listed twice in its per-image table.")
        frames[team] = frame.assign(**{IMAGE: images}).set_index(IMAGE)
        if reference is None:
            reference = (team, sorted(images))
        elif sorted(images) != reference[1]:
            other = set(images) ^ set(reference[1])
            raise StatisticsError(
                f"team {team!r} was scored on {len(images)} images, team {reference[0]!r} on "
                f"{len(reference[1])} ({len(other)} differ, e.g. {sorted(other)[0]!r}); the paired "
                f"bootstrap needs every team scored on the same images: rescore on the same data.")
    images = reference[1]
    if len(images) < 2:
        raise StatisticsError(f"only {len(images)} image scored: a bootstrap over images needs at least 2.")
    values = np.stack([frames[t].reindex(images)[list(SCORED_METRICS)].to_numpy(float) for t in teams])
    return images, {k: values[:, :, i] for i, k in enumerate(SCORED_METRICS)}


def _score_of_means(profile: Profile, metrics: dict[str, np.ndarray]):
    """The Score of the per-metric means over the images where each metric is defined (spec §3);
    a metric defined everywhere takes the plain mean (nanmean is several times slower)."""
    undefined = {k for k, v in metrics.items() if np.isnan(v).any()}

    def statistic(*values: np.ndarray, axis: int = -1) -> np.ndarray:
        means = {k: (np.nanmean if k in undefined else np.mean)(v, axis=axis)
                 for k, v in zip(SCORED_METRICS, values, strict=True)}
        return score_arrays(means, profile).score
    return statistic


def objective_uncertainty(per_image: Mapping[str, pd.DataFrame], profile: Profile,
                          order: Sequence[str] | None = None) -> ObjectiveUncertainty:
    """Bootstrap over images of every team's Score (``per_image``: team -> per-image table).

    ``order`` is the published ranking (best first); by default the teams are ordered by their
    Score, ties broken by LPIPS_person, as the leaderboard does.
    """
    images, metrics = aligned_metrics(per_image)
    teams = list(per_image)
    statistic = _score_of_means(profile, metrics)
    score = statistic(*(metrics[k] for k in SCORED_METRICS))
    if order is None:
        lpips = np.nanmean(metrics["LPIPS_person"], axis=-1)
        positions = np.lexsort((lpips, -score))
    else:
        unknown = [t for t in order if t not in per_image]
        if unknown:
            raise StatisticsError(f"no per-image scores for team(s) {', '.join(unknown)}.")
        positions = np.array([teams.index(t) for t in order], int)
    samples = [metrics[k][positions] for k in SCORED_METRICS]
    result = paired_bootstrap(samples, statistic, profile.statistics)
    distribution = result.distribution.reshape(len(positions), -1)
    low, high = result.low.reshape(-1), result.high.reshape(-1)
    return ObjectiveUncertainty(
        teams=tuple(teams[i] for i in positions), images=len(images), score=score[positions],
        score_low=low, score_high=high, ranks=rank_confidence(distribution, profile.statistics),
        distribution=distribution, settings=profile.statistics)


def score_interval(per_image: pd.DataFrame, profile: Profile) -> tuple[float, float]:
    """One submission's Score interval over its images (detailed_results.html)."""
    result = objective_uncertainty({"submission": per_image.assign(
        **{IMAGE: per_image[IMAGE] if IMAGE in per_image.columns else range(len(per_image))})}, profile)
    return float(result.score_low[0]), float(result.score_high[0])
