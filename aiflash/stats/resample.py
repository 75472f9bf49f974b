"""The resampling every statistic here shares: a vectorised paired bootstrap over the last axis
(scipy.stats.bootstrap's draws and percentile interval; scipy itself for BCa), seeded and sized by
the profile's ``statistics`` settings; plus rank summaries of a joint bootstrap distribution (one
row per team, one column per resample).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..profile import StatisticsSettings


def rng(settings: StatisticsSettings, stream: int = 0) -> np.random.Generator:
    """The seeded generator of one statistic; ``stream`` keeps independent draws apart."""
    return np.random.default_rng([settings.seed, stream]) if stream else \
        np.random.default_rng(settings.seed)


@dataclass(frozen=True)
class Bootstrap:
    low: np.ndarray  # the confidence interval, per batch row
    high: np.ndarray
    distribution: np.ndarray  # batch shape + (resamples,): the statistic on every resample


def paired_bootstrap(samples: Sequence[np.ndarray], statistic: Callable[..., np.ndarray],
                     settings: StatisticsSettings, stream: int = 0) -> Bootstrap:
    """Bootstrap over the last axis of every sample, the same resampled indices for all of them and
    for every leading (batch) row, so rows can be compared resample by resample.

    ``statistic(*samples, axis=-1)`` must be vectorised. Percentile intervals are computed here,
    drawing the very indices ``scipy.stats.bootstrap(..., paired=True)`` draws from the same seed
    (tests hold the two equal): importing scipy.stats costs more than this whole bootstrap, and
    the scoring program pays it for every submission. BCa intervals come from scipy itself.
    """
    samples = tuple(np.asarray(s, dtype=float) for s in samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples of a rarely defined metric
        if settings.method == "BCa":
            from scipy import stats

            result = stats.bootstrap(samples, statistic, n_resamples=settings.resamples, paired=True,
                                     vectorized=True, axis=-1, confidence_level=settings.confidence,
                                     method="BCa", rng=rng(settings, stream))
            return Bootstrap(np.asarray(result.confidence_interval.low),
                             np.asarray(result.confidence_interval.high),
                             np.asarray(result.bootstrap_distribution))
        n = samples[0].shape[-1]
        index = rng(settings, stream).integers(0, n, (settings.resamples, n))
        distribution = np.asarray(statistic(*(s[..., index] for s in samples), axis=-1))
        alpha = (1 - settings.confidence) / 2
        low, high = np.quantile(distribution, [alpha, 1 - alpha], axis=-1)
    return Bootstrap(low, high, distribution)


def interval(distribution: np.ndarray, settings: StatisticsSettings) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along the last axis, resamples where the statistic is undefined left out."""
    alpha = (1 - settings.confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(distribution, [alpha, 1 - alpha], axis=-1)
    return low, high


_COMPARISONS = 20_000_000  # booleans compared at once when ranking (20 MB)


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
    teams, resamples = distribution.shape
    # Rank 1 = best in each resample; ties in a resample share the better rank. Compared in
    # chunks of resamples: teams x teams x resamples booleans would not fit for a big phase.
    chunk = max(1, _COMPARISONS // max(teams * teams, 1))
    ranks = np.concatenate([
        1 + (part[None, :, :] > part[:, None, :]).sum(axis=1)
        for part in (distribution[:, i:i + chunk] for i in range(0, resamples, chunk))], axis=1)
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
