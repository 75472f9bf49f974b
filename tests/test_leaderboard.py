"""Leaderboard inputs, ranking rules and the site's tables (the browser test renders the page)."""

from __future__ import annotations

import csv
import json
import math

import pandas as pd
import pytest

from aiflash.cli import main
from aiflash.leaderboard import (
    FinalSettings,
    LeaderboardError,
    build_site,
    final_ranking,
    load_results,
    load_subjective,
    ranked,
    write_site,
)
from aiflash.leaderboard import columns as C
from aiflash.profile import load_profile

PROFILE = load_profile("default")
METRIC_HEADERS = "Score,LPIPS_person,DeltaE_person,PSNR_bg,SSIM_global,GlobalScore"
# Codabench's export (api/views/competitions.py::results): Username = <owner>-<submission id>,
# columns "<task name>(<task id>)-<column title>" with the column titles of competition.yaml.
CODABENCH_TITLES = ("Score", "LPIPS (person)", "DeltaE (person)", "PSNR (background, dB)", "SSIM (global)",
                    "GlobalScore")


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def codabench_export(tmp_path, rows):
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Username", "fact_sheet_answers",
                         *(f"AI Flash Portrait(12)-{t}" for t in CODABENCH_TITLES)])
        writer.writerows([user, "", *values] for user, values in rows)
    return path


def reproduction_csv(tmp_path, rows):
    header = f"team,{METRIC_HEADERS},online_score,difference,discrepancy,status,reason\n"
    return write(tmp_path / "reproduction.csv", header + "\n".join(rows) + "\n")


def test_codabench_export_maps_titles_to_keys_and_keeps_each_teams_best_submission(tmp_path):
    path = codabench_export(tmp_path, [
        ("alice-101", [80.1, 0.05, 9.0, 25.0, 0.85, 0.7]),
        ("bob-lab-7", [82.0, 0.04, 8.0, 26.0, 0.86, 0.72]),
        ("alice-102", [81.5, 0.045, 8.5, 25.5, 0.855, 0.71]),
    ])
    frame = load_results(path)
    assert sorted(frame[C.TEAM]) == ["alice", "bob-lab"]
    alice = frame.set_index(C.TEAM).loc["alice"]
    assert alice["Score"] == 81.5 and alice["PSNR_bg"] == 25.5 and alice["LPIPS_person"] == 0.045
    assert not frame[C.DISQUALIFIED].any()


def test_folder_of_scores_json_named_by_team(tmp_path):
    for team, score in (("t1", 80.0), ("t2", 85.0)):
        out = tmp_path / "runs" / team / "output"
        out.mkdir(parents=True)
        write(out / "scores.json", json.dumps({"Score": score, "LPIPS_person": 0.05, "GlobalScore": 0.7}))
    frame = load_results(tmp_path / "runs")
    assert frame.set_index(C.TEAM)["Score"].to_dict() == {"t1": 80.0, "t2": 85.0}
    assert frame["PSNR_bg"].isna().all()


def test_reproduction_report_flags_and_failures(tmp_path):
    path = reproduction_csv(tmp_path, [
        "good,85,0.03,7,27,0.9,0.78,85.02,,false,ok,",
        "cheat,84,0.03,7,27,0.9,0.78,86.5,-2.5,true,ok,",
        "broken,,,,,,,83,,false,failed,ingestion crashed: CUDA out of memory",
    ])
    frame = load_results(path).set_index(C.TEAM)
    assert frame.loc["good", C.DIFFERENCE] == pytest.approx(-0.02)  # computed when left blank
    assert bool(frame.loc["cheat", C.DISCREPANCY]) and not frame.loc["cheat", C.DISQUALIFIED]
    assert frame.loc["broken", C.DISQUALIFIED]
    assert frame.loc["broken", C.REASON] == "ingestion crashed: CUDA out of memory"


def test_json_records_with_aliases(tmp_path):
    path = write(tmp_path / "r.json", json.dumps({"rows": [
        {"Team": "x", "reproduced_score": 81.0, "online": 81.1, "flagged": False, "status": "ok"},
        {"Team": "y", "reproduced_score": None, "online": 80.0, "status": "timeout",
         "failure_reason": "ran past the time limit"}]}))
    frame = load_results(path).set_index(C.TEAM)
    assert frame.loc["x", "Score"] == 81.0 and frame.loc["x", C.ONLINE_SCORE] == 81.1
    assert frame.loc["y", C.DISQUALIFIED] and frame.loc["y", C.REASON] == "ran past the time limit"


@pytest.mark.parametrize("text, message", [
    ("team,LPIPS_person\nx,0.1\n", "no Score column"),
    ("name,Score\nx,abc\n", "not a number"),
    ("team,Score\nx,inf\n", "must be finite"),
    ("team,Score\nx,80\nx,81\n", "teams listed twice"),
    ("team,Score,discrepancy\nx,80,maybe\n", "use true or false"),
    ("foo,Score\nx,80\n", "no team column"),
])
def test_malformed_results_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(LeaderboardError, match=message):
        load_results(write(tmp_path / "bad.csv", text))


def test_ties_broken_by_score_then_lpips_and_full_ties_share_a_rank():
    frame = pd.DataFrame({
        C.TEAM: ["a", "b", "c", "d", "e"],
        "Score": [80.0, 82.0, 82.0, 82.0, 90.0],
        "LPIPS_person": [0.01, 0.05, 0.03, 0.05, math.nan],
        C.DISQUALIFIED: [False, False, False, False, True],
    })
    out = ranked(frame)
    assert out[C.TEAM].tolist() == ["c", "b", "d", "a", "e"]
    assert out["rank"].tolist()[:4] == [1, 2, 2, 4]
    assert pd.isna(out["rank"].iloc[4])  # disqualified: no rank, last


def test_final_ranking_uses_profile_weights_and_keeps_disqualified_apart():
    settings = FinalSettings.from_profile(PROFILE)
    assert (settings.objective_weight, settings.subjective_weight) == (0.3, 0.7)
    objective = pd.DataFrame({C.TEAM: ["a", "b", "c"], "Score": [84.0, 80.0, 90.0],
                              "LPIPS_person": [0.03, 0.02, 0.01],
                              C.DISQUALIFIED: [False, False, True], C.REASON: ["", "", "discrepancy"]})
    subjective = pd.DataFrame({C.TEAM: ["a", "b", "c", "z"], C.SUBJECTIVE: [80.0, 90.0, 85.0, 85.0]})
    out = final_ranking(objective, subjective, settings).set_index(C.TEAM)
    assert out.loc["b", C.FINAL] == pytest.approx(0.3 * 80 + 0.7 * 90)
    assert out.loc["a", C.FINAL] == pytest.approx(0.3 * 84 + 0.7 * 80)
    assert out.loc["b", "rank"] == 1 and out.loc["a", "rank"] == 2
    assert pd.isna(out.loc["c", "rank"]) and out.loc["c", C.REASON] == "discrepancy"
    assert out.loc["z", C.REASON] == "no objective result for this team"


def test_final_ties_fall_back_to_score_then_lpips():
    settings = FinalSettings(0.5, 0.5, 80.0, 90.0)
    objective = pd.DataFrame({C.TEAM: ["a", "b", "c"], "Score": [80.0, 84.0, 84.0],
                              "LPIPS_person": [0.01, 0.04, 0.02], C.DISQUALIFIED: [False] * 3})
    subjective = pd.DataFrame({C.TEAM: ["a", "b", "c"], C.SUBJECTIVE: [88.0, 84.0, 84.0]})
    out = final_ranking(objective, subjective, settings)
    assert out[C.TEAM].tolist() == ["c", "b", "a"]  # all Final 84; Score then LPIPS decide
    assert out["rank"].tolist() == [1, 2, 3]


def test_profile_without_final_ranking_is_refused(tmp_path):
    profile = load_profile("default")
    broken = type(profile)(**{**profile.__dict__, "final_ranking": {"objective_weight": 0.3}})
    with pytest.raises(LeaderboardError, match="final_ranking needs"):
        FinalSettings.from_profile(broken)


def test_site_writes_every_table_as_csv_and_json(tmp_path):
    phase2 = load_results(codabench_export(tmp_path, [("a-1", [80, 0.05, 9, 25, 0.85, 0.7]),
                                                      ("b-2", [82, 0.04, 8, 26, 0.86, 0.72])]))
    repro = load_results(reproduction_csv(tmp_path, ["a,81,0.04,8,26,0.86,0.72,80.9,,false,ok,",
                                                     "b,,,,,,,82,,false,failed,crashed"]))
    subjective = load_subjective(write(tmp_path / "s.csv", "team,points,subjective\na,3,90\nb,1,80\n"))
    site = build_site(PROFILE, phase2=phase2, reproduction=repro, subjective=subjective)
    paths = write_site(tmp_path / "site", site)
    assert [t.slug for t in site.tables] == ["final", "phase3", "experts", "phase2"]
    slugs = ("final", "phase3", "experts", "phase2")
    assert {p.name for p in paths} == {"index.html"} | {f"{t}.{x}" for t in slugs for x in ("csv", "json")}
    final = pd.read_csv(tmp_path / "site" / "final.csv")
    assert final["team"].tolist() == ["a", "b"] and final["disqualified"].tolist() == [False, True]
    phase3 = json.loads((tmp_path / "site" / "phase3.json").read_text())["rows"]
    assert phase3[1]["team"] == "b" and phase3[1]["rank"] is None and phase3[1]["reason"] == "crashed"
    page = site.html
    assert "http://" not in page and "https://" not in page  # nothing to fetch at view time
    assert "<script src" not in page and "<link" not in page


def test_discrepancy_policy_disqualifies_flagged_teams(tmp_path):
    repro = load_results(reproduction_csv(tmp_path, ["a,81,0.04,8,26,0.86,0.72,83.5,,true,ok,",
                                                     "b,80,0.04,8,26,0.86,0.72,80.0,,false,ok,"]))
    site = build_site(PROFILE, reproduction=repro, disqualify_discrepancies=True)
    rows = site.tables[0].rows.set_index(C.TEAM)
    assert rows.loc["a", C.DISQUALIFIED]
    assert "differs from the online Score by -2.500" in rows.loc["a", C.REASON]
    assert rows.loc["b", "rank"] == 1


def test_cli_builds_the_site_and_refuses_no_input(tmp_path, capsys):
    repro = reproduction_csv(tmp_path, ["a,81,0.04,8,26,0.86,0.72,80.9,,false,ok,"])
    assert main(["leaderboard", "--reproduction", str(repro), "--output-dir", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "index.html").is_file() and (tmp_path / "o" / "phase3.csv").is_file()
    assert main(["leaderboard", "--output-dir", str(tmp_path / "o2")]) == 2
    assert "nothing to show" in capsys.readouterr().err


def test_reads_the_report_aiflash_reproduce_writes(tmp_path):
    from aiflash.reproduce.report import COLUMNS  # the contract with `aiflash reproduce`

    rows = [
        {"team": "good", "status": "ok", "flag": "", "Score": 85.0, "online_Score": 85.1,
         "difference": -0.1, "discrepancy": False, "LPIPS_person": 0.03, "reason": ""},
        {"team": "cheat", "status": "ok", "flag": "DISCREPANCY", "Score": 80.0, "online_Score": 86.0,
         "difference": -6.0, "discrepancy": True, "LPIPS_person": 0.04, "reason": ""},
        {"team": "crash", "status": "failed", "flag": "FAILED", "online_Score": 84.0, "discrepancy": False,
         "reason": "ingestion failed: model.py raised"},
        {"team": "ghost", "status": "missing", "flag": "NO SUBMISSION", "online_Score": 83.0,
         "discrepancy": False, "reason": "on the online leaderboard but no code submission was given"},
    ]
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(tmp_path / "reproduction.csv", index=False)
    (tmp_path / "reproduction.json").write_text(json.dumps({"meta": {}, "teams": [
        {k: r.get(k) for k in COLUMNS} for r in rows]}))
    for name in ("reproduction.csv", "reproduction.json"):
        frame = ranked(load_results(tmp_path / name)).set_index(C.TEAM)
        assert frame.loc["good", "rank"] == 1 and frame.loc["cheat", "rank"] == 2
        assert bool(frame.loc["cheat", C.DISCREPANCY]) and frame.loc["cheat", C.ONLINE_SCORE] == 86.0
        assert frame.loc["crash", C.DISQUALIFIED] and "model.py raised" in frame.loc["crash", C.REASON]
        assert frame.loc["ghost", C.DISQUALIFIED] and "no code submission" in frame.loc["ghost", C.REASON]
