"""Expert blind assessment: prepare (anonymity, sealing, seeding), tally (every refusal, the
normalisation edges), final. The browser test drives a real voting page end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiflash.assess import AssessmentError, Key, PrepareOptions, normalise, prepare, read_ballots, tally
from aiflash.assess.model import VOTES_FORMAT
from aiflash.cli import main
from aiflash.leaderboard import load_results

from .synth import degrade, scene, write_rgb

TEAMS = {"Alpha": 84.0, "Bravo": 83.0, "Charlie": 80.0, "Delta": 82.0, "Echo": 81.0, "Foxtrot": 70.0}
STEMS = ["0003", "0011", "0017", "0020", "0042", "0051"]


def plan_e1(image: str, position: int) -> list[str]:
    """Expert E1's planted Top-3: the same three teams on every image."""
    return ["Charlie", "Alpha", "Delta"]


def plan_e2(image: str, position: int) -> list[str]:
    """Expert E2's planted Top-3: changes on the 4th image it sees."""
    return ["Charlie", "Alpha", "Bravo"] if position < 3 else ["Echo", "Charlie", "Delta"]


# With plan_e1 + plan_e2 on 4 images: Top-3 counts and the expected subjective scores (80..90).
PLANTED_TOP3 = {"Charlie": 8, "Alpha": 7, "Delta": 5, "Bravo": 3, "Echo": 1}
PLANTED_SUBJECTIVE = {t: 80 + 10 * (n - 1) / 7 for t, n in PLANTED_TOP3.items()}
PLANTED_FINAL_ORDER = ["Alpha", "Charlie", "Delta", "Bravo", "Echo"]  # 0.3 Score + 0.7 subjective


def make_assessment_data(root: Path, teams: dict[str, float] = TEAMS, stems: list[str] = STEMS,
                         size: tuple[int, int] = (48, 64)) -> Path:
    """inputs/, results/<team>/ and scores.csv (team, Score, LPIPS_person) under ``root``."""
    rng = np.random.default_rng(5)
    for stem in stems:
        gt = scene(*size, rng)
        write_rgb(root / "inputs" / f"{stem}.png", (gt * 0.3).astype(np.uint8))
        for team in teams:
            write_rgb(root / "results" / team / f"{stem}.png", degrade(gt, rng, 0.5))
    (root / "scores.csv").write_text("team,Score,LPIPS_person\n"
                                     + "".join(f"{t},{s},0.05\n" for t, s in teams.items()))
    return root


def run_prepare(root: Path, **options) -> tuple[Key, Path, Path]:
    pages, key = root / "pages", root / "sealed" / "key.json"
    defaults = {"top": 5, "images": 4, "experts": 2, "seed": 11}
    prepare(load_results(root / "scores.csv"), root / "results", root / "inputs", pages, key,
            PrepareOptions(**(defaults | options)))
    return Key.read(key), pages, key


def ballot(key: Key, expert: str, plan) -> dict:
    """A vote export as the page writes it; ``plan(image, position)`` -> three team names."""
    record = next(p for p in key.pages if p.expert == expert)
    votes = {}
    for position, image in enumerate(record.order):
        label_of = {team: label for label, team in key.labels[image].items()}
        votes[image] = [label_of[t] for t in plan(image, position)]
    return {"format": VOTES_FORMAT, "assessment_id": key.assessment_id, "page_id": record.page_id,
            "expert": expert, "expert_name": "", "exported_at": "2026-03-20T10:00:00Z",
            "images": len(votes), "votes": votes}


def save(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def assessment(tmp_path_factory):
    root = make_assessment_data(tmp_path_factory.mktemp("assess"))
    key, pages, key_path = run_prepare(root)
    return root, key, pages, key_path


def test_prepare_picks_top_n_seeded_images_and_per_image_permutations(assessment):
    root, key, pages, key_path = assessment
    assert key.teams == ("Alpha", "Bravo", "Delta", "Echo", "Charlie")  # Top-5 by Score; Foxtrot out
    assert len(key.images) == 4 and set(key.images) <= set(STEMS)
    assert [p.expert for p in key.pages] == ["E1", "E2"]
    for image in key.images:
        assert sorted(key.labels[image]) == ["A", "B", "C", "D", "E"]
        assert sorted(key.labels[image].values()) == sorted(key.teams)
    assert len({tuple(key.labels[i].values()) for i in key.images}) > 1  # permuted per image
    assert all(sorted(p.order) == sorted(key.images) for p in key.pages)
    again = make_assessment_data(root / "again")
    key2, _, _ = run_prepare(again)
    assert key2.images == key.images and key2.labels == key.labels  # same seed, same draw


def test_pages_hold_no_team_name_and_the_key_lives_apart(assessment):
    root, key, pages, key_path = assessment
    assert not key_path.resolve().is_relative_to(pages.resolve())
    assert sorted(p.name for p in pages.iterdir()) == ["expert-E1.html", "expert-E2.html"]
    for record in key.pages:
        text = (pages / record.file).read_text()
        for team in TEAMS:
            assert team not in text and team.lower() not in text.lower()
        assert record.page_id in text and key.assessment_id in text
        assert "http://" not in text and "https://" not in text


def test_prepare_refuses_a_key_inside_the_pages_folder_and_overwriting_a_key(tmp_path, assessment):
    root = assessment[0]
    with pytest.raises(AssessmentError, match="must not be inside the pages folder"):
        prepare(load_results(root / "scores.csv"), root / "results", root / "inputs", tmp_path / "p",
                tmp_path / "p" / "key.json", PrepareOptions(top=4, images=2, experts=1, seed=1))
    with pytest.raises(AssessmentError, match="a key already exists"):
        prepare(load_results(root / "scores.csv"), root / "results", root / "inputs", tmp_path / "p",
                assessment[3], PrepareOptions(top=4, images=2, experts=1, seed=1))


def test_prepare_refuses_missing_team_folders_and_too_few_images(tmp_path):
    root = make_assessment_data(tmp_path, stems=STEMS[:3])
    with pytest.raises(AssessmentError, match="only 3 image"):
        run_prepare(root, images=4)
    (root / "results" / "Bravo" / f"{STEMS[0]}.png").unlink()
    with pytest.raises(AssessmentError, match="Bravo lacks 1"):
        run_prepare(root, images=3)
    for path in (root / "results" / "Bravo").iterdir():
        path.unlink()
    (root / "results" / "Bravo").rmdir()
    with pytest.raises(AssessmentError, match="no result folder for team"):
        run_prepare(root, images=2)


@pytest.mark.parametrize("points, expected", [
    ({"solo": 7.0}, {"solo": 85.0}),  # one team: all equal
    ({"a": 3.0, "b": 3.0, "c": 3.0}, {"a": 85.0, "b": 85.0, "c": 85.0}),  # all equal
    ({"a": 0.0, "b": 0.0, "c": 5.0}, {"a": 80.0, "b": 80.0, "c": 90.0}),  # tie at the bottom
    ({"a": 10.0, "b": 10.0, "c": 2.0, "d": 6.0}, {"a": 90.0, "b": 90.0, "c": 80.0, "d": 85.0}),  # tie on top
    ({"a": 1.0, "b": 2.0, "c": 5.0}, {"a": 80.0, "b": 82.5, "c": 90.0}),  # linear in between
    ({}, {}),
])
def test_normalisation_edges(points, expected):
    assert normalise(points, 80.0, 90.0) == pytest.approx(expected)


def test_tally_counts_top3_and_rank_weights(assessment):
    root, key, pages, _ = assessment
    files = [save(root / "v1.json", ballot(key, "E1", plan_e1)),
             save(root / "v2.json", ballot(key, "E2", plan_e2))]
    ballots = read_ballots(files, key)
    plain = tally(ballots, key, 80.0, 90.0).set_index("team")
    assert plain["top3"].to_dict() == PLANTED_TOP3
    assert plain.loc["Charlie", "subjective"] == 90.0 and plain.loc["Echo", "subjective"] == 80.0
    assert plain.loc["Alpha", "subjective"] == pytest.approx(80 + 10 * 6 / 7)
    weighted = tally(ballots, key, 80.0, 90.0, (3.0, 2.0, 1.0)).set_index("team")
    assert weighted["points"].to_dict() == {"Charlie": 23.0, "Alpha": 14.0, "Delta": 5.0, "Bravo": 3.0,
                                            "Echo": 3.0}
    assert weighted.loc["Bravo", "subjective"] == weighted.loc["Echo", "subjective"] == 80.0


def _mutations(key: Key):
    good = ballot(key, "E1", lambda image, i: ["Alpha", "Bravo", "Charlie"])
    first = key.pages[0].order[0]

    def edit(change):
        data = json.loads(json.dumps(good))
        change(data)
        return data

    return {
        "not json": ("{votes: oops", "not a readable JSON vote file"),
        "not a vote file": ({"hello": 1}, "not a vote file exported by the assessment page"),
        "other assessment": (edit(lambda d: d.update(assessment_id="0123456789ab")),
                             "made for assessment '0123456789ab'"),
        "unknown page": (edit(lambda d: d.update(page_id="ffffffffffffffff")), "is not in the key"),
        "other expert": (edit(lambda d: d.update(expert="E2")), "the file was edited"),
        "missing image": (edit(lambda d: d["votes"].pop(first)), "incomplete: 1 of 4 image"),
        "two picks": (edit(lambda d: d["votes"][first].pop()), "expected a Top-3 list"),
        "unknown label": (edit(lambda d: d["votes"][first].__setitem__(0, "Z")), "label(s) 'Z' unknown"),
        "label twice": (edit(lambda d: d["votes"][first].__setitem__(1, d["votes"][first][0])),
                        "names a label twice"),
        "foreign image": (edit(lambda d: d["votes"].__setitem__("9999", ["A", "B", "C"])),
                          "not on expert E1's page: 9999"),
        "no votes": (edit(lambda d: d.pop("votes")), "has no \"votes\" object"),
        "duplicated entry": (json.dumps(good)[:-2] + f', "{first}": ["A", "B", "C"]' + "}}",
                             "duplicated entry"),
    }


MALFORMED = ["not json", "not a vote file", "other assessment", "unknown page", "other expert",
             "missing image", "two picks", "unknown label", "label twice", "foreign image", "no votes",
             "duplicated entry"]


@pytest.mark.parametrize("case", MALFORMED)
def test_tally_refuses_each_malformed_vote_file(assessment, tmp_path, capsys, case):
    root, key, pages, key_path = assessment
    data, message = _mutations(key)[case]
    bad = save(tmp_path / "votes-E1.json", data)
    other = save(tmp_path / "votes-E2.json", ballot(key, "E2", lambda image, i: ["Alpha", "Bravo", "Echo"]))
    code = main(["assess", "tally", str(bad), str(other), "--key", str(key_path),
                 "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "votes-E1.json" in err, err
    assert not (tmp_path / "out").exists()


def test_tally_refuses_duplicated_and_missing_vote_files_and_foreign_pages(assessment, tmp_path, capsys):
    root, key, pages, key_path = assessment
    e1 = ballot(key, "E1", lambda image, i: ["Alpha", "Bravo", "Charlie"])
    a, b = save(tmp_path / "votes-E1.json", e1), save(tmp_path / "votes-E1 (1).json", e1)
    assert main(["assess", "tally", str(a), str(b), "--key", str(key_path)]) == 2
    assert "both votes of expert E1 (same page); duplicated vote file" in capsys.readouterr().err
    assert main(["assess", "tally", str(a), "--key", str(key_path)]) == 2
    assert "no vote file from expert(s) E2" in capsys.readouterr().err
    assert main(["assess", "tally", str(a), "--key", str(key_path), "--allow-missing-experts",
                 "--output-dir", str(tmp_path / "out")]) == 0
    capsys.readouterr()

    # A key that does not match the pages: another preparation's pages.
    copy = tmp_path / "pages"
    copy.mkdir()
    for record in key.pages:
        text = (pages / record.file).read_text().replace("Image ", "Picture ", 1)
        (copy / record.file).write_text(text)
    e2 = save(tmp_path / "votes-E2.json", ballot(key, "E2", lambda image, i: ["Alpha", "Bravo", "Echo"]))
    assert main(["assess", "tally", str(a), str(e2), "--key", str(key_path), "--pages-dir", str(pages),
                 "--output-dir", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    assert main(["assess", "tally", str(a), str(e2), "--key", str(key_path), "--pages-dir", str(copy)]) == 2
    assert "differs from the page the key recorded (sha256); the key does not match these pages" \
        in capsys.readouterr().err
    other_root = make_assessment_data(tmp_path / "other")
    _, _, other_key = run_prepare(other_root)
    assert main(["assess", "tally", str(a), str(e2), "--key", str(other_key)]) == 2
    assert "the key does not match the pages this expert voted on" in capsys.readouterr().err


def test_tally_refuses_bad_rank_weights_and_keys(assessment, tmp_path, capsys):
    root, key, pages, key_path = assessment
    a = save(tmp_path / "a.json", ballot(key, "E1", lambda image, i: ["Alpha", "Bravo", "Charlie"]))
    assert main(["assess", "tally", str(a), "--key", str(key_path), "--rank-weights", "3,2"]) == 2
    assert "expected 3 non-negative numbers" in capsys.readouterr().err
    assert main(["assess", "tally", str(a), "--key", str(save(tmp_path / "k.json", {"x": 1}))]) == 2
    assert "not an assessment key" in capsys.readouterr().err


def test_final_combines_objective_and_subjective_with_profile_weights(assessment, tmp_path, capsys):
    root, key, pages, key_path = assessment
    e1 = save(tmp_path / "e1.json", ballot(key, "E1", plan_e1))
    e2 = save(tmp_path / "e2.json", ballot(key, "E2", plan_e2))
    out = tmp_path / "out"
    assert main(["assess", "tally", str(e1), str(e2), "--key", str(key_path), "--output-dir", str(out)]) == 0
    assert main(["assess", "final", "--objective", str(root / "scores.csv"),
                 "--subjective", str(out / "subjective_scores.csv"), "--output-dir", str(out)]) == 0
    final = pd.read_csv(out / "final_ranking.csv")
    expected = {t: 0.3 * TEAMS[t] + 0.7 * s for t, s in PLANTED_SUBJECTIVE.items()}
    assert final["team"].tolist() == sorted(expected, key=expected.get, reverse=True)
    assert final["team"].tolist() == PLANTED_FINAL_ORDER  # Alpha's Score outweighs Charlie's votes
    assert final.set_index("team")["Final"].to_dict() == pytest.approx(expected)
    assert final["rank"].tolist() == [1, 2, 3, 4, 5]
    assert "Final = 0.3 × Score + 0.7 × subjective" in capsys.readouterr().out
