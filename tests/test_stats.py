"""Ranking statistics (issue 12) on planted data: significance of the objective ranking, expert
agreement, leave-one-expert-out, weight sensitivity, objective vs subjective; checked against
scipy where scipy has the statistic."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from aiflash.errors import StatisticsError
from aiflash.formula import compute_score
from aiflash.profile import load_profile
from aiflash.stats.experts import FinalWeights, Votes, agreement, expert_statistics, weight_sensitivity
from aiflash.stats.link import kendall_tau_b, objective_vs_subjective, spearman_rho
from aiflash.stats.objective import objective_uncertainty
from aiflash.stats.resample import paired_bootstrap

PROFILE = load_profile()
SETTINGS = PROFILE.statistics
WEIGHTS = FinalWeights(0.3, 0.7, 80.0, 90.0)


def per_image(rng: np.random.Generator, images: int = 100, **fixed: float) -> pd.DataFrame:
    """A plausible team: per-image metrics scattered like the Phase 2 leaderboard's."""
    frame = pd.DataFrame({
        "image": [f"{i + 1:04d}" for i in range(images)],
        "LPIPS_person": np.clip(rng.normal(0.03, 0.012, images), 0.001, None),
        "DeltaE_person": np.clip(rng.normal(7.0, 2.0, images), 2.0, None),
        "PSNR_bg": rng.normal(27.0, 2.5, images),
        "SSIM_global": np.clip(rng.normal(0.9, 0.03, images), 0.6, 0.99),
    })
    for key, value in fixed.items():
        frame[key] = value
    return frame


def test_constant_shift_is_significant_although_the_intervals_overlap():
    base = per_image(np.random.default_rng(1))
    better = base.assign(LPIPS_person=base["LPIPS_person"] - 0.002)  # better on every image
    result = objective_uncertainty({"base": base, "better": better}, PROFILE)
    assert result.teams == ("better", "base")
    assert result.ranks.ahead[0] == 1.0 and not result.ranks.tied_with_next[0]
    assert list(result.ranks.rank_low) == [1, 2] and list(result.ranks.rank_high) == [1, 2]
    # Unpaired intervals would call this a tie: the paired resample is what separates them.
    assert result.score_low[0] < result.score_high[1]


def test_same_values_shuffled_between_images_are_tied():
    rng = np.random.default_rng(2)
    base = per_image(rng)
    shuffled = base.assign(image=base["image"].to_numpy()[rng.permutation(len(base))])
    result = objective_uncertainty({"base": base, "shuffled": shuffled}, PROFILE)
    assert result.score[0] == pytest.approx(result.score[1], abs=1e-9)
    assert 0.2 < result.ranks.ahead[0] < 0.8 and result.ranks.tied_with_next[0]
    assert list(result.ranks.rank_low) == [1, 1] and list(result.ranks.rank_high) == [2, 2]


def test_one_very_bad_image_widens_the_interval():
    base = per_image(np.random.default_rng(3))
    bad = base.copy()
    bad.loc[17, ["LPIPS_person", "DeltaE_person", "PSNR_bg", "SSIM_global"]] = [0.6, 45.0, 11.0, 0.4]
    result = objective_uncertainty({"base": base, "bad": bad}, PROFILE, order=["base", "bad"])
    width = result.score_high - result.score_low
    assert width[1] > 2.5 * width[0]
    # Identical but for one image: the resamples without image 17 (about (1 - 1/100)^100 = 37%)
    # are ties, so the order is not significant although "bad" is never ahead.
    assert result.ranks.ahead[0] == pytest.approx(1 - 0.5 * 0.99**100, abs=0.04)
    assert result.ranks.tied_with_next[0]


def test_score_interval_is_scipys_interval_of_the_mean_mapped_through_the_formula():
    """Only LPIPS varies, so the Score is a decreasing function of the mean LPIPS: its interval is
    the Score at the ends of scipy.stats.bootstrap's interval of the mean, same seed, same draws."""
    values = per_image(np.random.default_rng(4), DeltaE_person=7.0, PSNR_bg=27.0, SSIM_global=0.9)
    result = objective_uncertainty({"team": values}, PROFILE)
    lpips = values["LPIPS_person"].to_numpy()
    reference = stats.bootstrap((lpips,), np.mean, n_resamples=SETTINGS.resamples, method="percentile",
                                confidence_level=SETTINGS.confidence,
                                rng=np.random.default_rng(SETTINGS.seed))
    ci = reference.confidence_interval

    def score(mean_lpips: float) -> float:
        return compute_score({"LPIPS_person": mean_lpips, "DeltaE_person": 7.0, "PSNR_bg": 27.0,
                              "SSIM_global": 0.9}, PROFILE).score

    assert result.score[0] == pytest.approx(score(lpips.mean()), abs=1e-9)
    assert result.score_low[0] == pytest.approx(score(ci.high), abs=1e-5)
    assert result.score_high[0] == pytest.approx(score(ci.low), abs=1e-5)
    ours = paired_bootstrap((lpips,), np.mean, SETTINGS)
    assert ours.low == pytest.approx(ci.low, abs=1e-12) and ours.high == pytest.approx(ci.high, abs=1e-12)
    np.testing.assert_allclose(ours.distribution, reference.bootstrap_distribution, rtol=0, atol=1e-12)


def test_paired_bootstrap_draws_what_scipy_draws_for_a_batch_and_bca_is_scipys():
    rng = np.random.default_rng(13)
    x, y = rng.normal(0, 1, (3, 40)), rng.normal(0, 1, (3, 40))

    def difference(a, b, axis=-1):
        return np.mean(a, axis=axis) - np.mean(b, axis=axis)

    ours = paired_bootstrap((x, y), difference, SETTINGS)
    reference = stats.bootstrap((x, y), difference, paired=True, n_resamples=SETTINGS.resamples,
                                method="percentile", axis=-1, rng=np.random.default_rng(SETTINGS.seed))
    np.testing.assert_allclose(ours.distribution, reference.bootstrap_distribution, atol=1e-12)
    np.testing.assert_allclose(ours.low, reference.confidence_interval.low, atol=1e-12)
    bca = replace(SETTINGS, method="BCa")
    reference = stats.bootstrap((x, y), difference, paired=True, n_resamples=SETTINGS.resamples,
                                method="BCa", axis=-1, rng=np.random.default_rng(SETTINGS.seed))
    np.testing.assert_allclose(paired_bootstrap((x, y), difference, bca).high,
                               reference.confidence_interval.high, atol=1e-12)


def test_rank_intervals_of_a_big_phase_are_computed_in_chunks(monkeypatch):
    from aiflash.stats import resample

    rng = np.random.default_rng(14)
    distribution = rng.normal(np.linspace(10, 0, 30)[:, None], 1.0, (30, 500))
    whole = resample.rank_confidence(distribution, SETTINGS)
    monkeypatch.setattr(resample, "_COMPARISONS", 30 * 30 * 7)  # chunks of 7 resamples
    chunked = resample.rank_confidence(distribution, SETTINGS)
    assert np.array_equal(whole.rank_low, chunked.rank_low)
    assert np.array_equal(whole.rank_high, chunked.rank_high)
    assert whole.rank_low[0] == 1 and whole.rank_high[-1] == 30


def test_teams_scored_on_other_images_are_refused():
    rng = np.random.default_rng(5)
    with pytest.raises(StatisticsError, match="'short' was scored on 99 images.*same images"):
        objective_uncertainty({"full": per_image(rng), "short": per_image(rng, 99)}, PROFILE)


def test_batched_kendall_and_spearman_match_scipy_with_ties():
    rng = np.random.default_rng(6)
    x, y = rng.integers(0, 5, (200, 12)).astype(float), rng.integers(0, 5, (200, 12)).astype(float)
    tau, rho = kendall_tau_b(x, y), spearman_rho(x, y)
    for i in range(200):
        assert tau[i] == pytest.approx(stats.kendalltau(x[i], y[i]).statistic, abs=1e-12)
        assert rho[i] == pytest.approx(stats.spearmanr(x[i], y[i]).statistic, abs=1e-12)


def votes_from_picks(picks: list[list[list[str]]], teams: list[str]) -> Votes:
    """picks[expert][image] = that expert's Top-3 on that image (rank weights 1, 1, 1)."""
    points = np.zeros((len(picks), len(picks[0]), len(teams)))
    for e, by_image in enumerate(picks):
        for i, top in enumerate(by_image):
            for team in top:
                points[e, i, teams.index(team)] = 1.0
    return Votes(tuple(f"E{e + 1}" for e in range(len(picks))),
                 tuple(f"{i:04d}" for i in range(len(picks[0]))), tuple(teams), points, points > 0)


def random_votes(rng: np.random.Generator, experts: int, images: int, teams: list[str]) -> Votes:
    return votes_from_picks([[list(rng.choice(teams, 3, replace=False)) for _ in range(images)]
                             for _ in range(experts)], teams)


TEAMS = [f"T{i}" for i in range(1, 13)]


def test_perfectly_agreeing_experts_give_w_and_kappa_one():
    rng = np.random.default_rng(7)
    # Preferences differ between images, but every expert picks the same Top-3 on each image.
    one = [list(rng.choice(TEAMS[:6], 3, replace=False, p=[.3, .25, .2, .12, .08, .05])) for _ in range(60)]
    result = agreement(votes_from_picks([one] * 5, TEAMS))
    assert result.kendall_w == pytest.approx(1.0) and result.fleiss_kappa == pytest.approx(1.0)
    assert result.mean_spearman == pytest.approx(1.0) and result.w_p_value < 1e-6
    assert result.outliers == ()


def test_random_votes_agree_at_chance_level():
    result = agreement(random_votes(np.random.default_rng(8), 20, 100, TEAMS))
    assert abs(result.fleiss_kappa) < 0.02
    assert abs(result.mean_spearman) < 0.05  # chance-corrected W
    assert result.kendall_w < 0.1 and result.w_p_value > 0.05  # W's chance level is 1/m = 0.05


def test_planted_outlier_expert_is_named():
    rng = np.random.default_rng(9)
    taste = np.linspace(1.0, 0.1, len(TEAMS))  # the experts' shared preference, T1 best

    def expert(preference: np.ndarray) -> list[list[str]]:
        p = preference / preference.sum()
        return [list(rng.choice(TEAMS, 3, replace=False, p=p)) for _ in range(80)]

    votes = votes_from_picks([expert(taste) for _ in range(4)] + [expert(taste[::-1])], TEAMS)
    result = agreement(votes)
    assert result.outliers == ("E5",)
    assert result.per_expert[4] < 0 < min(result.per_expert[:4])


def test_leave_one_expert_out_changes_exactly_the_planted_ranks():
    teams = ["T1", "T2", "T3", "T4", "T5", "T6"]
    # E1..E4: T1, T2 on every image, third place T4 (images 0-2), T5 (3-5) or T3 (6-11): T4 and T5
    # level. E5 is the same except it prefers T5 to T4 on images 0-2: T5 overtakes T4 thanks to
    # E5 alone.
    base = [["T1", "T2", "T4" if i < 3 else "T5" if i < 6 else "T3"] for i in range(12)]
    e5 = [["T1", "T2", "T5"] if i < 3 else top for i, top in enumerate(base)]
    votes = votes_from_picks([base] * 4 + [e5], teams)
    scores = {"T1": 85.0, "T2": 80.0, "T3": 80.0, "T4": 79.5, "T5": 79.0, "T6": 70.0}
    result = expert_statistics(votes, WEIGHTS, SETTINGS, scores)
    assert result.final.teams == ("T1", "T2", "T3", "T5", "T4", "T6")
    changes = {loo.expert: {(c.team, c.before, c.after) for c in loo.changes}
               for loo in result.leave_one_out}
    assert changes == {"E1": set(), "E2": set(), "E3": set(), "E4": set(),
                       "E5": {("T4", 5, 4), ("T5", 4, 5)}}


def test_weight_sensitivity_finds_where_two_teams_swap():
    # A: Score 86, subjective 82; B: Score 80, subjective 85. Final equal where
    # w*86 + (1-w)*82 = w*80 + (1-w)*85  ->  w = 3/9.
    # D has A's subjective score and a lower Score: equal only at objective weight 0, never swapped.
    result = weight_sensitivity(["A", "B", "C", "D"], np.array([86.0, 80.0, 60.0, 85.0]),
                                np.array([82.0, 85.0, 80.0, 82.0]), WEIGHTS)
    swaps = [(s.upper, s.lower, round(s.objective_weight, 6)) for s in result.swaps]
    assert swaps[0] == ("B", "A", round(1 / 3, 6))
    assert not any({"A", "D"} == {s.upper, s.lower} for s in result.swaps)
    assert result.stable_low == 0.0 and result.stable_high == pytest.approx(1 / 3)
    above = FinalWeights(0.34, 0.66, 80, 90).final([86.0, 80.0], [82.0, 85.0])
    assert above[0] > above[1]  # past the swap, A leads


def test_subjective_and_final_intervals_and_ties():
    rng = np.random.default_rng(10)
    taste = np.linspace(1.0, 0.5, len(TEAMS))
    p = taste / taste.sum()
    votes = votes_from_picks([[list(rng.choice(TEAMS, 3, replace=False, p=p)) for _ in range(50)]
                              for _ in range(5)], TEAMS)
    scores = {t: 80.0 for t in TEAMS}
    result = expert_statistics(votes, WEIGHTS, SETTINGS, scores)
    sub = result.subjective
    assert np.all(sub.low <= sub.value + 1e-9) and np.all(sub.value <= sub.high + 1e-9)
    assert np.all((sub.low >= 80) & (sub.high <= 90))
    assert sub.ranks.tied_with_next[:-1].any()  # 5 experts cannot separate near-equal teams
    assert result.final.teams[0] == sub.teams[0]


def test_objective_vs_subjective_correlation_and_interval():
    rng = np.random.default_rng(11)
    subjective = np.linspace(90, 80, 12)
    agreeing = subjective + rng.normal(0, 0.5, 12)
    unrelated = rng.normal(0, 1, 12)
    result = {c.measure: c for c in objective_vs_subjective(
        {"Score": agreeing, "noise": unrelated}, subjective, SETTINGS)}
    score = result["Score"]
    assert score.tau == pytest.approx(stats.kendalltau(agreeing, subjective).statistic)
    assert score.tau > 0.7 and score.tau_low > 0.4 and score.tau_low <= score.tau <= score.tau_high
    noise = result["noise"]
    assert noise.rho_low < 0 < noise.rho_high


def test_detailed_results_show_the_score_interval_over_images():
    from aiflash.report import detailed_results_html

    frame = per_image(np.random.default_rng(12))
    breakdown = compute_score({k: float(frame[k].mean()) for k in PROFILE.ranges}, PROFILE)
    page = detailed_results_html({"Score": breakdown.score}, breakdown, frame, PROFILE, [])
    low, high = objective_uncertainty({"s": frame}, PROFILE).score_low[0], \
        objective_uncertainty({"s": frame}, PROFILE).score_high[0]
    assert low < breakdown.score < high
    assert f"95% interval over the 100 images: <b>[{low:.4f}, {high:.4f}]</b>" in page
    single = detailed_results_html({"Score": breakdown.score}, breakdown, frame.iloc[:1], PROFILE, [])
    assert "score-interval" not in single  # one image: no interval, no failure
