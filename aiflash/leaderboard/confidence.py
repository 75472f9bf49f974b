"""How sure the leaderboard's rankings are (issue 12): the statistics of ``aiflash.stats`` for the
tables the site shows, and the site's tables and plots of them.

``compute_statistics`` runs every statistic the inputs allow (per-image scores of a phase: Score
intervals, rank intervals, neighbour probabilities; vote files: agreement, subjective and final
intervals, leave-one-expert-out, weight sensitivity; both: objective vs subjective).
``add_confidence`` puts the intervals into a phase's rows; the ``*_table`` builders make the
sections. ``aiflash stats`` prints the same tables.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..profile import Profile, StatisticsSettings
from ..stats.link import Correlation, correlation_table, objective_vs_subjective, spearman_rho
from ..stats.objective import ObjectiveUncertainty, objective_uncertainty
from ..stats.plots import interval_plot, scatter_plot
from . import columns as C
from .ranking import FinalSettings, ranked
from .sources import LeaderboardError
from .tables import Column, Table

if TYPE_CHECKING:  # at run time imported where used: stats.experts uses the assessment's tally,
    # and the assessment package imports this one (columns, ranking) at its own import.
    from ..stats.experts import ExpertStatistics, Votes

# A per-image table must give the Score the results table shows, to rounding at 2 decimals
# (Codabench may display fewer digits than the scorer wrote); anything more is another run.
SCORE_MATCH = 0.006
SUBJECTIVE_MATCH = 1e-4  # subjective_scores.csv is written with 6 decimals
PHASE_NAMES = {"phase1": "Phase 1", "phase2": "Phase 2", "phase3": "Phase 3 (reproduced)"}
MEASURES = ("Score", "GlobalScore", "LPIPS_person", "DeltaE_person", "PSNR_bg", "SSIM_global")


def interval_exports(value: str = "score") -> tuple[str, ...]:
    """The CSV/JSON columns that carry a ranking's statistics (``add_confidence`` adds them)."""
    return (f"{value}_low", f"{value}_high", "rank_low", "rank_high", "p_ahead", "tied_with_next")


@dataclass(frozen=True)
class Statistics:
    settings: StatisticsSettings
    objective: dict[str, ObjectiveUncertainty]  # by phase slug
    without_per_image: dict[str, tuple[str, ...]]  # ranked teams that had no per-image scores
    published: dict[str, pd.DataFrame]  # phase slug -> its ranked, eligible rows (rank, team, Score)
    experts: ExpertStatistics | None
    correlations: tuple[Correlation, ...]
    correlation_source: str  # the phase slug whose Scores were correlated with the experts
    teams: pd.DataFrame | None  # the correlation source's eligible teams and metrics (plots)


def _eligible(frame: pd.DataFrame) -> pd.DataFrame:
    rows = ranked(frame)
    return rows[~rows[C.DISQUALIFIED].astype(bool)].reset_index(drop=True)


def _objective(slug: str, frame: pd.DataFrame, per_image: dict[str, pd.DataFrame],
               profile: Profile) -> tuple[ObjectiveUncertainty, tuple[str, ...]]:
    rows = _eligible(frame)
    order = [t for t in rows[C.TEAM] if t in per_image]
    without = tuple(t for t in rows[C.TEAM] if t not in per_image)
    if not order:
        raise LeaderboardError(
            f"--per-image {slug}: none of its teams ({', '.join(sorted(per_image)[:5])}"
            f"{', ...' if len(per_image) > 5 else ''}) is a ranked team of the {PHASE_NAMES[slug]} "
            f"results ({', '.join(list(rows[C.TEAM])[:5])}{', ...' if len(rows) > 5 else ''}); name "
            f"each per-image folder after its team.")
    result = objective_uncertainty({t: per_image[t] for t in order}, profile, order=order)
    published = rows.set_index(C.TEAM)[C.SCORE]
    for team, score in zip(result.teams, result.score, strict=True):
        if abs(score - published[team]) > SCORE_MATCH:
            source = per_image[team].attrs.get("source", f"the per-image scores of {team}")
            raise LeaderboardError(
                f"{source}: gives Score {score:.4f} but the {PHASE_NAMES[slug]} results say "
                f"{published[team]:.4f} for team {team!r}: not the same run; give the per-image "
                f"scores of the submission on the leaderboard.")
    return result, without


def compute_statistics(profile: Profile, results: dict[str, pd.DataFrame],
                       per_image: dict[str, dict[str, pd.DataFrame]], votes: Votes | None = None,
                       subjective: pd.DataFrame | None = None) -> Statistics:
    """Every statistic the inputs allow. ``results``: phase slug ("phase1", "phase2", "phase3")
    -> the canonical results table (disqualification policy applied); ``per_image``: slug -> team
    -> per-image table; ``votes``: the experts' vote files as arrays."""
    settings = profile.statistics
    objective, without = {}, {}
    published = {slug: _eligible(frame) for slug, frame in results.items()}
    for slug, frame in results.items():
        if slug in per_image:
            objective[slug], without[slug] = _objective(slug, frame, per_image[slug], profile)
    source = next((s for s in ("phase3", "phase2", "phase1") if s in results), "")
    experts = None
    if votes is not None:
        from ..stats.experts import FinalWeights, expert_statistics

        final = FinalSettings.from_profile(profile)
        weights = FinalWeights(final.objective_weight, final.subjective_weight, final.subjective_low,
                               final.subjective_high)
        scores, distribution = None, None
        if "phase3" in results:
            rows = _eligible(results["phase3"])
            scores = dict(zip(rows[C.TEAM], rows[C.SCORE].astype(float), strict=True))
            if "phase3" in objective:
                u = objective["phase3"]
                distribution = dict(zip(u.teams, u.distribution, strict=True))
        experts = expert_statistics(votes, weights, settings, scores, distribution)
        _check_subjective(subjective, experts)
    correlations, teams = (), None
    assessed = subjective if subjective is not None else (
        experts.subjective.table(C.SUBJECTIVE) if experts is not None else None)
    if source:
        teams = _eligible(results[source])
    if source and assessed is not None:
        by_team = dict(zip(assessed[C.TEAM], assessed[C.SUBJECTIVE].astype(float), strict=True))
        linked = teams[teams[C.TEAM].isin(by_team)]
        directions = C.metric_directions(profile)
        measures = {m: linked[m].astype(float).to_numpy() * (1 if directions[m].higher_is_better else -1)
                    for m in MEASURES if m in linked.columns and linked[m].notna().any()}
        correlations = tuple(objective_vs_subjective(
            measures, np.array([by_team[t] for t in linked[C.TEAM]]), settings))
    return Statistics(settings, objective, without, published, experts, correlations, source, teams)


def _check_subjective(subjective: pd.DataFrame | None, experts: ExpertStatistics) -> None:
    if subjective is None:
        return
    tallied = dict(zip(experts.subjective.teams, experts.subjective.value, strict=True))
    given = dict(zip(subjective[C.TEAM], subjective[C.SUBJECTIVE].astype(float), strict=True))
    source = subjective.attrs.get("source", "the subjective scores")
    if set(given) != set(tallied):
        raise LeaderboardError(f"{source}: its teams ({', '.join(sorted(given))}) are not the teams of "
                               f"the vote files' key ({', '.join(sorted(tallied))}); give the tally of "
                               f"these votes.")
    for team, value in given.items():
        if abs(value - tallied[team]) > SUBJECTIVE_MATCH:
            raise LeaderboardError(
                f"{source}: team {team!r} has subjective {value:.4f} but these vote files give "
                f"{tallied[team]:.4f}: tallied from other votes or with other --rank-weights; pass "
                f"the --rank-weights given to 'aiflash assess tally'.")


# --- Site tables ---------------------------------------------------------------------------------

def _settings_text(settings: StatisticsSettings, over: str) -> str:
    return (f"{settings.resamples:,} bootstrap resamples over {over}, {settings.confidence:.0%} "
            f"{settings.method} intervals, seed {settings.seed}; neighbours whose order holds in fewer "
            f"than {settings.tie_threshold:.0%} of the resamples are marked ≈ tied")


def add_confidence(rows: pd.DataFrame, table: pd.DataFrame, value: str = "score") -> pd.DataFrame:
    """``rows`` with the interval columns of ``table`` (team, <value>_low/high, rank_low/high,
    p_ahead, tied_with_next) joined by team; teams without statistics get none."""
    table = table.assign(next_team=list(table[C.TEAM])[1:] + [""])  # named by the tie mark
    out = rows.merge(table[[C.TEAM, *interval_exports(value), "next_team"]], on=C.TEAM, how="left")
    out[["rank_low", "rank_high"]] = out[["rank_low", "rank_high"]].astype("Int64")
    out["tied_with_next"] = out["tied_with_next"].astype("boolean").fillna(False).astype(bool)
    return out


def with_intervals(rows: pd.DataFrame, columns: tuple[Column, ...] | list[Column], table: pd.DataFrame,
                   key: str, value: str = "score", with_rank: bool = False,
                   ) -> tuple[pd.DataFrame, tuple[Column, ...], tuple[str, ...]]:
    """A leaderboard table's rows and columns with a ranking's statistics (``table``: team,
    <value>_low/high, rank_low/high, p_ahead, tied_with_next): the ``key`` column shows its
    interval, followed by the rank interval (``with_rank``) and the "vs next" tie mark; returns the
    export columns to add."""
    columns = list(columns)
    at = next(i for i, c in enumerate(columns) if c.key == key)
    columns[at:at + 1] = interval_columns(columns[at], value, with_rank)
    return add_confidence(rows, table, value), tuple(columns), interval_exports(value)


RANK_INTERVAL = Column("rank_interval", "Rank interval", kind="range", low="rank_low", high="rank_high",
                       hint="the ranks this team takes in the central resamples (confidence level)")


def interval_columns(score: Column, value: str = "score",
                     with_rank: bool = False) -> tuple[Column, ...]:
    """The value column with its interval, the rank interval (``with_rank``) and the "vs next"
    tie-mark column."""
    ahead = Column("p_ahead", "vs next", kind="ahead",
                   hint="probability that this team is truly ahead of the next one (bootstrap)")
    value_column = replace(score, low=f"{value}_low", high=f"{value}_high")
    return (value_column, RANK_INTERVAL, ahead) if with_rank else (value_column, ahead)


def confidence_table(slug: str, result: ObjectiveUncertainty, without: tuple[str, ...],
                     published: pd.DataFrame | None = None) -> Table:
    """A phase's "ranking confidence" section. With ``published`` (the phase's ranked rows), rank
    and Score are the leaderboard's (ranks shared on full ties; the Score as published, which the
    per-image tables reproduce within rounding)."""
    rows = result.table()
    if published is not None:
        shown = published.set_index(C.TEAM).loc[list(result.teams)]
        rows[C.SCORE] = shown[C.SCORE].astype(float).to_numpy()
        ranks = shown["rank"].to_numpy()
    else:
        ranks = range(1, len(rows) + 1)
    rows.insert(0, "rank", pd.array(ranks, dtype="Int64"))
    name = PHASE_NAMES[slug]
    columns = (
        Column("rank", "#", kind="rank"), Column(C.TEAM, "Team", kind="text"),
        Column(C.SCORE, "Score", decimals=4, higher_is_better=True, low="score_low", high="score_high",
               hint=f"{result.settings.confidence:.0%} interval over the images"),
        replace(RANK_INTERVAL, hint=f"the ranks this team takes in {result.settings.confidence:.0%} of "
                                    "the resamples"),
        Column("p_ahead", "vs next", kind="ahead", hint="P(truly ahead of the next team)"),
    )
    over = f"the {result.images} images (the same draw for every team)"
    notes = [f"No per-image scores for: {', '.join(without)} (left out of these statistics)."] \
        if without else []
    return Table(
        f"{slug}-confidence", f"Ranking confidence — {name}", columns, rows,
        intro=(f"<p class='intro'>How sure the {html.escape(name)} order is: each team's Score "
               f"recomputed (means, then the full Score formula) on "
               f"{_settings_text(result.settings, over)}.</p>"),
        export_columns=("rank", C.TEAM, C.SCORE, *interval_exports()), notes=notes,
        after=("<figure class='plot'>" + interval_plot(result.teams, result.score, result.score_low,
                                                       result.score_high, result.ranks.tied_with_next,
                                                       f"Score with its {result.settings.confidence:.0%} "
                                                       "interval (≈: not significantly ahead)")
               + "</figure>"))


def agreement_table(experts: ExpertStatistics, settings: StatisticsSettings) -> Table:
    a = experts.agreement
    changes = {loo.expert: ", ".join(f"{c.team} {c.before}→{c.after}" for c in loo.changes) or "none"
               for loo in experts.leave_one_out}
    names = experts.experts
    rows = pd.DataFrame({
        "expert": list(names),
        "rho_with_others": a.per_expert if a is not None else np.nan,
        "outlier": [bool(a and e in a.outliers) for e in names],
        "final_changes_without": [changes.get(e, "–") for e in names],
    })
    rows["status"] = ""
    columns = (
        Column("expert", "Expert", kind="text"),
        Column("rho_with_others", "ρ with the others", decimals=3, higher_is_better=True,
               hint="Spearman's rho of this expert's per-team points with the other experts' total"),
        Column("outlier", "Outlier", kind="text"),
        Column("final_changes_without", "Final ranks that change without this expert", kind="text"),
    )
    rows["outlier"] = ["⚠ outlier" if o else "" for o in rows["outlier"]]
    if a is None:
        summary = "A single expert: no agreement to measure."
    else:
        summary = (f"Kendall's W = <b>{a.kendall_w:.3f}</b> (p = {a.w_p_value:.2g}; chance level 1/m = "
                   f"{1 / len(a.experts):.2f}), mean pairwise Spearman ρ = <b>{a.mean_spearman:.3f}</b> "
                   f"(0 = chance, 1 = unanimous), Fleiss' κ on per-image Top-3 membership = "
                   f"<b>{a.fleiss_kappa:.3f}</b>. "
                   + (f"Outlier expert(s): <b>{html.escape(', '.join(a.outliers))}</b>."
                      if a.outliers else "No outlier expert."))
    stable = sum(1 for loo in experts.leave_one_out if not loo.changes)
    if experts.leave_one_out:
        summary += (f" Leaving one expert out at a time, the final ranking stays the same for "
                    f"{stable} of {len(experts.leave_one_out)} experts.")
    return Table(
        "agreement", "Expert agreement and leave-one-expert-out", columns, rows,
        intro=f"<p class='intro' id='agreement-summary'>{summary}</p>",
        export_columns=("expert", "rho_with_others", "outlier", "final_changes_without"))


def weights_table(experts: ExpertStatistics) -> Table | None:
    w = experts.weights
    if w is None:
        return None
    rows = pd.DataFrame([{"upper": s.upper, "lower": s.lower, "objective_weight": s.objective_weight,
                          "subjective_weight": s.subjective_weight} for s in w.swaps],
                        columns=["upper", "lower", "objective_weight", "subjective_weight"])
    columns = (
        Column("upper", "Ahead now", kind="text"), Column("lower", "Behind now", kind="text"),
        Column("objective_weight", "Swap at objective weight", decimals=3),
        Column("subjective_weight", "… subjective weight", decimals=3),
    )
    return Table(
        "weights", "Sensitivity to the objective/subjective weights", columns, rows,
        intro=(f"<p class='intro'>The final ranking (objective weight {w.objective_weight:g}, total "
               f"{w.total:g}) stays the same for any objective weight between "
               f"<b>{w.stable_low:.3f}</b> and <b>{w.stable_high:.3f}</b>. Each row: two teams that "
               f"swap when the objective weight crosses the value shown, nearest first.</p>"))


def link_table(statistics: Statistics, profile: Profile, subjective: pd.DataFrame | None) -> Table | None:
    if not statistics.correlations and statistics.teams is None:
        return None
    rows = correlation_table(list(statistics.correlations))
    columns = (
        Column("measure", "Objective measure", kind="text"), Column("teams", "Teams", decimals=0),
        Column("tau", "Kendall τ", decimals=3, low="tau_low", high="tau_high",
               hint="Kendall's tau-b with the expert score; bootstrap over teams"),
        Column("rho", "Spearman ρ", decimals=3, low="rho_low", high="rho_high",
               hint="Spearman's rho with the expert score; bootstrap over teams"),
    )
    directions = C.metric_directions(profile)
    plots = []
    teams = statistics.teams
    if subjective is not None and teams is not None:
        by_team = dict(zip(subjective[C.TEAM], subjective[C.SUBJECTIVE].astype(float), strict=True))
        linked = teams[teams[C.TEAM].isin(by_team)]
        y = np.array([by_team[t] for t in linked[C.TEAM]])
        for m in MEASURES:
            if m in linked.columns and linked[m].notna().any() and len(linked) >= 2:
                plots.append(scatter_plot(linked[m].astype(float).to_numpy(), y, list(linked[C.TEAM]),
                                          f"{m} {directions[m].arrow}", "expert score",
                                          f"{m} vs expert score"))
    if teams is not None and len(teams) >= 2 and teams["PSNR_bg"].notna().any():
        for person in ("LPIPS_person", "DeltaE_person"):
            x, y = teams[person].astype(float).to_numpy(), teams["PSNR_bg"].astype(float).to_numpy()
            keep = ~np.isnan(x) & ~np.isnan(y)
            rho = float(spearman_rho(x[keep], y[keep])) if keep.sum() >= 3 else np.nan
            plots.append(scatter_plot(x, y, list(teams[C.TEAM]), f"{person} {directions[person].arrow}",
                                      "PSNR_bg ↑", f"Trade-off: {person} vs PSNR_bg (ρ {rho:.2f})",
                                      css_class="scatter-plot tradeoff"))
    source = PHASE_NAMES.get(statistics.correlation_source, "")
    return Table(
        "objective-vs-subjective", "Objective vs subjective", columns, rows,
        intro=(f"<p class='intro'>Rank correlation between each objective measure of the "
               f"{html.escape(source)} results and the expert score over the assessed teams (metrics "
               f"oriented so that a positive value means agreement with the experts), with "
               f"{statistics.settings.confidence:.0%} intervals from {statistics.settings.resamples:,} "
               f"bootstrap resamples of the teams. The trade-off plots show every ranked team of that "
               f"phase.</p>"),
        export_columns=tuple(rows.columns),
        after=f"<div class='plots'>{''.join(plots)}</div>" if plots else "")
