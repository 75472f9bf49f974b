"""competition.yaml against Codabench's rules: the real bundle passes; each broken variant fails,
naming the rule it breaks; every date keeps its time through Codabench's date parsing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from aiflash.bundle import DOCKER_IMAGE
from aiflash.bundle.dates import codabench_datetime, date_problem
from aiflash.bundle.validate import errors, validate_bundle, validate_zip
from aiflash.report import LEADERBOARD_KEYS

from .conftest import REPO
from .test_bundle_helpers import built_bundle, unpacked_bundle

UTC = dt.timezone.utc


def _load(root: Path) -> dict:
    return yaml.safe_load((root / "competition.yaml").read_text(encoding="utf-8"))


def _dump(root: Path, data: dict) -> None:
    # safe_dump quotes strings that would otherwise read as timestamps, so dates stay quoted
    (root / "competition.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
                                           encoding="utf-8")


@pytest.fixture()
def bundle_copy(tmp_path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(unpacked_bundle(), target)
    return target


def test_built_bundle_passes_every_rule(tmp_path):
    problems = validate_zip(built_bundle(), tmp_path)
    assert errors(problems) == [], "\n".join(map(str, problems))
    # the one warning: Phase 3 needs the organisers' GPU queue (`queue:`) for its 3600 s limit
    assert [(p.rule, p.warning) for p in problems] == [("time-limit", True)]
    assert "phases[2].execution_time_limit 3600 s is capped to 600 s" in problems[0].message


def test_repository_yaml_matches_the_issue():
    data = _load(REPO)
    assert data["version"] == 2 and data["docker_image"] == DOCKER_IMAGE
    assert data["enable_detailed_results"] is True
    phases = sorted(data["phases"], key=lambda p: p["index"])
    assert [(p["start"], p.get("end")) for p in phases] == [
        ("2026-01-23 00:00:00", "2026-01-27 23:59:59"),
        ("2026-01-28 00:00:00", "2026-03-04 23:59:59"),
        ("2026-03-05 00:00:00", "2026-03-12 23:59:59"),
    ]
    tasks = {t["index"]: t for t in data["tasks"]}
    result_tasks = [tasks[i] for p in phases[:2] for i in p["tasks"]]
    assert all("ingestion_program" not in t and "input_data" not in t for t in result_tasks)
    final = tasks[phases[2]["tasks"][0]]
    assert {"ingestion_program", "input_data", "reference_data"} <= set(final)
    assert phases[2]["max_submissions"] <= 5
    (board,) = data["leaderboards"]
    columns = {c["key"]: c for c in board["columns"]}
    assert set(columns) == set(LEADERBOARD_KEYS)
    assert board["submission_rule"] in ("Force_Last", "Force_Best")
    primary = next(c for c in board["columns"] if c["index"] == board.get("primary_index", 0))
    assert primary["key"] == "Score"
    assert {k: c["sorting"] for k, c in columns.items()} == {
        "Score": "desc", "LPIPS_person": "asc", "DeltaE_person": "asc", "PSNR_bg": "desc",
        "SSIM_global": "desc", "GlobalScore": "desc"}
    assert 2 <= columns["Score"]["precision"] <= 4
    assert columns["LPIPS_person"]["precision"] == columns["SSIM_global"]["precision"] == 4
    pages = {p["title"]: p["file"] for p in data["pages"]}
    assert pages["Submission"] == "pages/submission.md"
    assert {"Overview", "Evaluation", "Data", "Timeline"} <= set(pages)
    assert "**Score** = 30 + 70 · Σ" in (REPO / pages["Evaluation"]).read_text(encoding="utf-8")
    assert (REPO / data["image"]).read_bytes().startswith(b"\x89PNG")


def test_every_date_survives_codabench_parsing_with_its_time():
    """Round trip: the raw yaml value through get_datetime equals the instant the text means."""
    for phase in _load(REPO)["phases"]:
        for key in ("start", "end"):
            raw = phase.get(key)
            if raw is None:
                continue
            assert isinstance(raw, str), f"{phase['name']}.{key} must be quoted"
            stored = codabench_datetime(raw)
            assert stored == dt.datetime.fromisoformat(raw).replace(tzinfo=UTC)
            assert stored.strftime("%H:%M:%S") == raw[-8:]
            assert date_problem(raw) is None


@pytest.mark.parametrize(("text", "stored", "problem"), [
    ('"2026-03-05 13:30:00"', "2026-03-05 13:30:00", None),
    ("2026-03-05 13:30:00", "2026-03-05 00:00:00", "drops its time"),  # YAML datetime: time lost
    ("2026-03-05T13:30:00Z", "2026-03-05 00:00:00", "drops its time"),
    ('"2026-03-05 13:30:00+02:00"', "2026-03-05 13:30:00", "drops the offset"),  # not converted
    ('"03-05-2026 13:30"', "2026-03-05 13:30:00", "month-first"),  # dateutil reads month first
    ('"05-03-2026 13:30"', "2026-05-03 13:30:00", "month-first"),
])
def test_codabench_date_quirks(text, stored, problem):
    value = yaml.safe_load(f"start: {text}")["start"]
    assert codabench_datetime(value) == dt.datetime.fromisoformat(stored).replace(tzinfo=UTC)
    found = date_problem(value)
    assert (found is None) if problem is None else (problem in found)


def _phase(data: dict, number: int) -> dict:
    return sorted(data["phases"], key=lambda p: p["index"])[number - 1]


def _columns(data: dict) -> list[dict]:
    return data["leaderboards"][0]["columns"]


def _unquoted_datetime(data, root):
    _phase(data, 2)["start"] = dt.datetime(2026, 1, 28, 13, 30)


def _leaderboard_singular(data, root):
    data["leaderboard"] = data.pop("leaderboards")[0]


def _no_version(data, root):
    del data["version"]


def _version_2_0(data, root):
    data["version"] = 2.0


def _unknown_column_key(data, root):
    _columns(data)[0]["key"] = "score"  # keys are case-sensitive: scores.json says "Score"


def _long_title(data, root):
    _columns(data)[3]["title"] = "Peak signal-to-noise ratio, background only"


def _duplicate_column_index(data, root):
    _columns(data)[2]["index"] = _columns(data)[1]["index"]


def _duplicate_task_index(data, root):
    data["tasks"][1]["index"] = data["tasks"][0]["index"]


def _overlapping_phases(data, root):
    _phase(data, 2)["start"] = "2026-01-27 12:00:00"


def _touching_phases(data, root):
    _phase(data, 2)["start"] = _phase(data, 1)["end"]


def _endless_middle_phase(data, root):
    del _phase(data, 2)["end"]


def _missing_page(data, root):
    (root / data["pages"][1]["file"]).unlink()


def _empty_page(data, root):
    (root / data["pages"][0]["file"]).write_text("")


def _svg_logo(data, root):
    (root / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>')
    data["image"] = "logo.svg"


def _max_submissions_per_person(data, root):
    phase = _phase(data, 3)
    phase["max_submissions_per_person"] = phase.pop("max_submissions")


def _accepts_only_results(data, root):
    _phase(data, 2)["accepts_only_result_submissions"] = True


def _computation_indexes_string(data, root):
    _columns(data).append({"title": "Mean", "key": "mean", "index": 9, "computation": "avg",
                           "computation_indexes": "1,2"})


def _no_primary_column(data, root):
    data["leaderboards"][0]["primary_index"] = 7


def _no_submission_rule(data, root):
    del data["leaderboards"][0]["submission_rule"]


def _two_leaderboards(data, root):
    data["leaderboards"].append(dict(data["leaderboards"][0], key="second"))


def _other_image(data, root):
    data["docker_image"] = "codalab/codalab-legacy:py39"


def _metadata_yml(data, root):
    program = root / data["tasks"][0]["scoring_program"]
    (program / "metadata.yaml").rename(program / "metadata.yml")


def _program_without_package(data, root):
    shutil.rmtree(root / data["tasks"][0]["scoring_program"] / "aiflash")


def _missing_dataset(data, root):
    data["tasks"][1]["reference_data"] = "data/phase9/reference_data/"


def _unknown_phase_task(data, root):
    _phase(data, 3)["tasks"] = [42]


def _bad_fact_sheet(data, root):
    data["fact_sheet"] = {"team": {"key": "team", "type": "radio", "title": "Team"}}


def _offset_date(data, root):
    _phase(data, 3)["end"] = "2026-03-12 23:59:59+01:00"


def _limit_below_ingestion_budget(data, root):
    _phase(data, 3)["execution_time_limit"] = 400  # the built ingestion program's budget is 480 s


def _shell_command(data, root):
    program = root / data["tasks"][0]["scoring_program"]
    (program / "metadata.yaml").write_text("command: python3 score.py && echo done\n")


BROKEN = [
    (_unquoted_datetime, "date", "drops its time"),
    (_leaderboard_singular, "ignored-key", "leaderboards:"),
    (_no_version, "version", "v1.5"),
    (_version_2_0, "version", "2.0"),
    (_unknown_column_key, "column-key", "'score'"),
    (_long_title, "length", "at most 36"),
    (_duplicate_column_index, "duplicate-index", "unique indexes"),
    (_duplicate_task_index, "duplicate-index", "Duplicate task indexes"),
    (_overlapping_phases, "phase-order", "overlap"),
    (_touching_phases, "phase-order", "strictly later"),
    (_endless_middle_phase, "phase-order", "has no end"),
    (_missing_page, "file-missing", "pages/evaluation.md"),
    (_empty_page, "file-empty", "empty"),
    (_svg_logo, "logo-format", "SVG"),
    (_max_submissions_per_person, "ignored-key", "max_submissions"),
    (_accepts_only_results, "ignored-key", "never reads it"),
    (_computation_indexes_string, "computation", "YAML list"),
    (_no_primary_column, "primary-column", "index 7"),
    (_no_submission_rule, "submission-rule", "Add"),
    (_two_leaderboards, "leaderboard-count", "only the first"),
    (_other_image, "docker-image", DOCKER_IMAGE),
    (_metadata_yml, "program-metadata", "metadata.yml"),
    (_program_without_package, "program-self-contained", "aiflash"),
    (_missing_dataset, "file-missing", "Cannot find dataset"),
    (_unknown_phase_task, "phase-tasks", "42"),
    (_bad_fact_sheet, "fact-sheet", "exactly the keys"),
    (_offset_date, "date", "offset"),
    (_limit_below_ingestion_budget, "ingestion-budget", "480"),
    (_shell_command, "program-command", "'&&'"),
]


@pytest.mark.parametrize(("breaker", "rule", "words"), BROKEN, ids=[b[0].__name__.strip("_") for b in BROKEN])
def test_broken_variant_fails_naming_the_rule(bundle_copy, breaker, rule, words):
    data = _load(bundle_copy)
    breaker(data, bundle_copy)
    _dump(bundle_copy, data)
    problems = errors(validate_bundle(bundle_copy))
    named = [p for p in problems if p.rule == rule]
    assert named, f"no [{rule}] among: " + "; ".join(map(str, problems))
    assert any(words in str(p) for p in named), "; ".join(map(str, named))
    assert all(str(p).startswith("competition.yaml: error [") for p in problems)


def test_misnamed_yaml_is_reported(bundle_copy):
    (bundle_copy / "competition.yaml").rename(bundle_copy / "competition.yml")
    (problem,) = validate_bundle(bundle_copy)
    assert problem.rule == "zip-root" and "competition.yml" in problem.message


def test_every_problem_is_listed_at_once(bundle_copy):
    data = _load(bundle_copy)
    for breaker in (_no_version, _long_title, _svg_logo, _max_submissions_per_person):
        breaker(data, bundle_copy)
    _dump(bundle_copy, data)
    rules = {p.rule for p in errors(validate_bundle(bundle_copy))}
    assert {"version", "length", "logo-format", "ignored-key"} <= rules
