"""The ranking statistics through the command line: `aiflash leaderboard` exports and `aiflash
stats` print the same numbers; inputs that cannot support them are refused in one line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from aiflash.cli import main

from .stats_data import planted_per_image, team_names, write_phase, write_reproduction, write_votes

TEAMS = team_names(8)
NEAR_EQUAL = ("Dusk", "Ember")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    per_image = planted_per_image(TEAMS, 60, seed=1, near_equal=NEAR_EQUAL)
    phase2, folder = write_phase(root / "phase2", per_image)
    reproduction = write_reproduction(root / "repro", per_image)
    taste = {t: 1.0 - 0.1 * i for i, t in enumerate(TEAMS)}
    key, votes = write_votes(root, TEAMS, 30, 5, taste, seed=2, contrarian="E3")
    return {"root": root, "phase2": phase2, "per_image": folder, "reproduction": reproduction,
            "key": key, "votes": votes}


def leaderboard(planted, out, *extra):
    return main(["leaderboard", "--phase2", str(planted["phase2"]), "--per-image",
                 f"phase2={planted['per_image']}", "--reproduction", str(planted["reproduction"]),
                 "--votes", str(planted["votes"]), "--key", str(planted["key"]), "--output-dir", str(out),
                 *extra])


def test_exports_carry_intervals_ties_agreement_and_sensitivity(planted, tmp_path):
    assert leaderboard(planted, tmp_path / "site") == 0
    site = tmp_path / "site"
    phase2 = pd.read_csv(site / "phase2.csv")
    assert {"score_low", "score_high", "rank_low", "rank_high", "p_ahead", "tied_with_next"} <= set(phase2)
    assert (phase2["score_low"] <= phase2["Score"]).all() and (phase2["Score"] <= phase2["score_high"]).all()
    tied = phase2.loc[phase2["tied_with_next"], "team"].tolist()
    order = phase2["team"].tolist()
    assert tied == ["Dusk"] and order.index("Ember") == order.index("Dusk") + 1
    # Found next to the reproduction report without being asked (teams/<team>/scoring/).
    assert "score_low" in pd.read_csv(site / "phase3.csv").columns
    agreement = json.loads((site / "agreement.json").read_text())["rows"]
    assert [r["expert"] for r in agreement if r["outlier"]] == ["E3"]
    final = pd.read_csv(site / "final.csv")
    assert {"Final_low", "Final_high", "rank_low", "rank_high"} <= set(final)
    weights = pd.read_csv(site / "weights.csv")
    assert set(weights.columns) == {"upper", "lower", "objective_weight", "subjective_weight"}
    link = pd.read_csv(site / "objective-vs-subjective.csv")
    assert link["measure"].tolist()[0] == "Score" and {"tau_low", "rho_high"} <= set(link)


def test_stats_command_prints_the_exported_numbers(planted, tmp_path, capsys):
    assert leaderboard(planted, tmp_path / "site") == 0
    capsys.readouterr()
    assert main(["stats", "--phase2", str(planted["phase2"]), "--per-image",
                 f"phase2={planted['per_image']}", "--reproduction", str(planted["reproduction"]),
                 "--votes", str(planted["votes"]), "--key", str(planted["key"]),
                 "--output-dir", str(tmp_path / "stats")]) == 0
    out = capsys.readouterr().out
    for title in ("Ranking confidence — Phase 2", "Expert agreement", "Sensitivity",
                  "Objective vs subjective"):
        assert title in out
    assert "Kendall's W" in out and "Fleiss' κ" in out
    site = pd.read_csv(tmp_path / "site" / "phase2-confidence.csv")
    printed = pd.read_csv(tmp_path / "stats" / "phase2-confidence.csv")
    pd.testing.assert_frame_equal(site, printed)
    dusk = site.set_index("team").loc["Dusk"]
    assert f"{dusk['score_low']:.4f}" in out and f"{dusk['score_high']:.4f}" in out
    assert main(["stats", "--phase2", str(planted["phase2"]), "--per-image",
                 f"phase2={planted['per_image']}", "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "### Ranking confidence — Phase 2" in markdown
    assert f"| Dusk | {dusk['Score']:.4f} | {dusk['score_low']:.4f} | {dusk['score_high']:.4f} |" in markdown


def test_per_image_scores_of_another_run_are_refused(planted, tmp_path, capsys):
    other = planted_per_image(TEAMS, 60, seed=9)
    _, folder = write_phase(tmp_path / "other", other)
    code = main(["leaderboard", "--phase2", str(planted["phase2"]), "--per-image", f"phase2={folder}",
                 "--output-dir", str(tmp_path / "site")])
    err = capsys.readouterr().err
    assert code != 0 and "per_image_scores.csv: gives Score" in err and "not the same run" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "site" / "index.html").exists()


def test_subjective_scores_tallied_with_other_rank_weights_are_refused(planted, tmp_path, capsys):
    assert main(["assess", "tally", str(planted["votes"]), "--key", str(planted["key"]),
                 "--rank-weights", "3,2,1", "--output-dir", str(tmp_path / "tally")]) == 0
    capsys.readouterr()
    code = main(["stats", "--subjective", str(tmp_path / "tally" / "subjective_scores.csv"),
                 "--votes", str(planted["votes"]), "--key", str(planted["key"])])
    err = capsys.readouterr().err
    assert code != 0 and "subjective_scores.csv: team" in err and "--rank-weights" in err
    assert main(["stats", "--subjective", str(tmp_path / "tally" / "subjective_scores.csv"),
                 "--votes", str(planted["votes"]), "--key", str(planted["key"]),
                 "--rank-weights", "3,2,1"]) == 0


def test_teams_scored_on_different_images_are_refused(planted, tmp_path, capsys):
    per_image = planted_per_image(TEAMS[:3], 20, seed=3)
    per_image["Cirrus"] = per_image["Cirrus"].iloc[:19]
    table, folder = write_phase(tmp_path, per_image)
    code = main(["stats", "--phase2", str(table), "--per-image", f"phase2={folder}"])
    err = capsys.readouterr().err
    assert code != 0 and "'Cirrus' was scored on 19 images" in err and "same images" in err


def test_statistics_settings_come_from_the_profile(planted, tmp_path, capsys):
    profile = tmp_path / "few.yaml"
    profile.write_text("extends: default\nname: few\nstatistics: {resamples: 200, confidence: 0.9, "
                       "seed: 7, tie_threshold: 0.99}\n")
    assert main(["stats", "--phase2", str(planted["phase2"]), "--per-image",
                 f"phase2={planted['per_image']}", "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "Profile few: 200 bootstrap resamples, 90% percentile intervals, seed 7" in out
    assert "tied below P = 0.99" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: default\nname: bad\nstatistics: {resampels: 200}\n")
    assert main(["stats", "--phase2", str(planted["phase2"]), "--per-image",
                 f"phase2={planted['per_image']}", "--profile", str(bad)]) != 0
    assert "unknown statistics setting(s) ['resampels']" in capsys.readouterr().err


def test_per_image_folders_named_after_no_team_are_refused(planted, tmp_path, capsys):
    _, folder = write_phase(tmp_path, {f"user{i}": f for i, f in enumerate(
        planted_per_image(TEAMS[:2], 10, seed=5).values())})
    code = main(["stats", "--phase2", str(planted["phase2"]), "--per-image", f"phase2={folder}"])
    err = capsys.readouterr().err
    assert code != 0 and "none of its teams (user0, user1)" in err and "name each per-image folder" in err


def test_a_team_without_score_or_per_image_scores_is_shown_without_statistics(planted, tmp_path):
    table = tmp_path / "phase2.csv"
    table.write_text(planted["phase2"].read_text() + "Latecomer,,,,,,\n")  # no Score: unranked
    assert main(["leaderboard", "--phase2", str(table), "--per-image", f"phase2={planted['per_image']}",
                 "--output-dir", str(tmp_path / "site")]) == 0
    rows = pd.read_csv(tmp_path / "site" / "phase2.csv").set_index("team")
    assert pd.isna(rows.loc["Latecomer", "score_low"]) and pd.isna(rows.loc["Latecomer", "rank"])
    assert rows.drop("Latecomer")["score_low"].notna().all()
    page = (tmp_path / "site" / "index.html").read_text()
    assert "Latecomer" in page and "Ranking confidence — Phase 2" in page
