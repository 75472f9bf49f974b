"""Objective vs subjective: Kendall's tau-b and Spearman's rho between each objective measure
(the Score, each metric) and the experts' subjective score over the assessed teams, with
bootstrap intervals over the teams.

Metrics are oriented so that "better" is higher (lower-is-better metrics negated): a positive
correlation always means the metric agrees with the experts.

scipy.stats is imported where it is used: importing it takes longer than all these statistics,
and every ``aiflash`` command imports the leaderboard that imports this module.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..profile import StatisticsSettings
from .resample import interval, paired_bootstrap

_STREAM = 3


def kendall_tau_b(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Kendall's tau-b along ``axis``, batched (scipy.stats.kendalltau takes one pair of vectors;
    this is the same statistic for thousands of resamples at once, tested against it)."""
    x, y = np.moveaxis(np.asarray(x, float), axis, -1), np.moveaxis(np.asarray(y, float), axis, -1)
    dx = np.sign(x[..., :, None] - x[..., None, :])
    dy = np.sign(y[..., :, None] - y[..., None, :])
    upper = np.triu(np.ones(x.shape[-1], bool), 1)
    concordance = (dx * dy)[..., upper].sum(axis=-1)
    untied_x = (dx != 0)[..., upper].sum(axis=-1)
    untied_y = (dy != 0)[..., upper].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return concordance / np.sqrt(untied_x * untied_y)


def spearman_rho(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along ``axis``, batched: Pearson's r (scipy) of the ranks (scipy)."""
    from scipy import stats  # here: see the module docstring

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant resample: undefined (NaN), left out
        return stats.pearsonr(stats.rankdata(x, axis=axis), stats.rankdata(y, axis=axis),
                              axis=axis).statistic


@dataclass(frozen=True)
class Correlation:
    measure: str
    teams: int
    tau: float
    tau_low: float
    tau_high: float
    rho: float
    rho_low: float
    rho_high: float


def objective_vs_subjective(objective: Mapping[str, np.ndarray], subjective: np.ndarray,
                            settings: StatisticsSettings) -> list[Correlation]:
    """``objective``: measure name -> values oriented higher-is-better, one per team, in the order
    of ``subjective``. Teams with a missing value are left out of that measure."""
    from scipy import stats  # here: see the module docstring

    out = []
    subjective = np.asarray(subjective, float)
    for measure, values in objective.items():
        values = np.asarray(values, float)
        keep = ~np.isnan(values) & ~np.isnan(subjective)
        x, y = values[keep], subjective[keep]
        if len(x) < 3:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tau = stats.kendalltau(x, y).statistic
            rho = stats.spearmanr(x, y).statistic

        def both(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.stack([kendall_tau_b(a, b, axis), spearman_rho(a, b, axis)])

        # Percentile interval whatever the profile says: BCa needs a scalar statistic per batch row.
        distribution = paired_bootstrap((x, y), both, replace(settings, method="percentile"),
                                        _STREAM).distribution
        low, high = interval(distribution, settings)
        out.append(Correlation(measure, int(keep.sum()), float(tau), float(low[0]), float(high[0]),
                               float(rho), float(low[1]), float(high[1])))
    return out


def correlation_table(correlations: list[Correlation]) -> pd.DataFrame:
    return pd.DataFrame([c.__dict__ for c in correlations],
                        columns=["measure", "teams", "tau", "tau_low", "tau_high", "rho", "rho_low",
                                 "rho_high"])
