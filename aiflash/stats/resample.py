"""The resampling every statistic here shares: scipy.stats.bootstrap, paired over the last axis,
seeded and sized by the profile's ``statistics`` settings; plus rank summaries of a joint
bootstrap distribution (one row per team, one column per resample).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..profile import StatisticsSettings


def rng(settings: StatisticsSettings, stream: int = 0) -> np.random.Generator:
    """The seeded generator of one statistic; ``stream`` keeps independent draws apart."""
    return np.random.default_rng([settings.seed, stream]) if stream else \
        np.random.default_rng(settings.seed)


def paired_bootstrap(samples: Sequence[np.ndarray], statistic: Callable[..., np.ndarray],
                     settings: StatisticsSettings, stream: int = 0) -> Any:
    """``scipy.stats.bootstrap`` over the last axis of every sample, the same resampled indices for
    all of them and for every leading (batch) row, so rows can be compared resample by resample.

    ``statistic(*samples, axis=-1)`` must be vectorised. Returns scipy's result: the confidence
    interval per batch row and the joint ``bootstrap_distribution`` (batch shape + (resamples,)).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples of a rarely defined metric
        return stats.bootstrap(
            tuple(np.asarray(s, dtype=float) for s in samples), statistic, n_resamples=settings.resamples,
            paired=True, vectorized=True, axis=-1, confidence_level=settings.confidence,
            method=settings.method, rng=rng(settings, stream))


def interval(distribution: np.ndarray, settings: StatisticsSettings) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along the last axis, resamples where the statistic is undefined left out."""
    alpha = (1 - settings.confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(distribution, [alpha, 1 - alpha], axis=-1)
    return low, high


@dataclass(frozen=True)
class RankConfidence:
    """How sure an order of teams is, from a joint bootstrap distribution (teams in rank order)."""

    rank_low: np.ndarray  # int, per team: the interval of its rank over the resamples
    rank_high: np.ndarray
    ahead: np.ndarray  # P(team i is truly ahead of team i+1); NaN for the last team
    tied_with_next: np.ndarray  # bool: ahead below the tie threshold


def rank_confidence(distribution: np.ndarray, settings: StatisticsSettings) -> RankConfidence:
    """Rank intervals and neighbour probabilities; ``distribution`` is (teams, resamples), the teams
    in their published order, higher = better. A resample tie counts as half a win."""
    teams = distribution.shape[0]
    # Rank 1 = best in each resample; ties in a resample share the better rank.
    ranks = 1 + (distribution[None, :, :] > distribution[:, None, :]).sum(axis=1)
    alpha = (1 - settings.confidence) / 2
    rank_low = np.quantile(ranks, alpha, axis=1, method="inverted_cdf").astype(int)
    rank_high = np.quantile(ranks, 1 - alpha, axis=1, method="inverted_cdf").astype(int)
    ahead = np.full(teams, np.nan)
    if teams > 1:
        upper, lower = distribution[:-1], distribution[1:]
        ahead[:-1] = (upper > lower).mean(axis=1) + 0.5 * (upper == lower).mean(axis=1)
    tied = np.zeros(teams, bool)
    tied[:-1] = ahead[:-1] < settings.tie_threshold
    return RankConfidence(rank_low, rank_high, ahead, tied)
