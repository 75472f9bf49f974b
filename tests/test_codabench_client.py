"""`aiflash codabench` against a Codabench site on 127.0.0.1 that answers as the recorded exchanges
do (tests/codabench_site.py): upload, pull (manifest, resume, faults), re-runs, and the pulled
folders fed to `aiflash leaderboard` and `aiflash reproduce`. The token must appear nowhere."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from aiflash.bundle.build import INGESTION_START_MARGIN_S, set_time_budget, zip_folder
from aiflash.bundle.validate import DEFAULT_QUEUE_TIME_CAP, ingestion_time_budget
from aiflash.cli import main

from .codabench_site import Server, Site, Team
from .conftest import REPO, SAMPLE
from .stats_data import planted_per_image, team_names
from .test_bundle_helpers import built_bundle, unpacked_bundle

TEAMS = team_names(5)
NEAR_EQUAL = ("Cirrus", "Dusk")
FAST = ("--retries", "1", "--backoff", "0.01")  # two tries, no waiting


@pytest.fixture()
def token(monkeypatch, tmp_path):
    value = "tok" + secrets.token_hex(20)
    monkeypatch.setenv("CODABENCH_TOKEN", value)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no credentials file of the machine's user
    for name in ("CODABENCH_CREDENTIALS", "CODABENCH_USERNAME", "CODABENCH_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return value


def phase2_site(token: str, **changes) -> Site:
    per_image = planted_per_image(TEAMS, 30, seed=4, near_equal=NEAR_EQUAL)
    teams = [Team(name, frame, running=name == "Borealis", failed=name == "Ember")
             for name, frame in per_image.items()]
    return Site(token=token, phase=2, teams=teams, **changes)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def pull(capsys, folder: Path, *extra: str, phase: int = 2) -> tuple[int, str, str]:
    return run(capsys, "codabench", "pull", "--competition", "1", "--phase", str(phase), "--output", folder,
               *FAST, *extra)


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def assert_no_secret(secret: str, out: str, err: str, *folders: Path) -> None:
    assert secret not in out and secret not in err
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def assert_nothing_partial(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if p.name.endswith(".partial") or p.name == ".pull-tmp"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pull_writes_the_layout_the_manifest_describes(token, tmp_path, capsys, monkeypatch):
    site = phase2_site(token)
    with Server(site) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        code, out, err = pull(capsys, tmp_path / "p2")
    assert code == 0, err
    folder = tmp_path / "p2"
    manifest = json.loads((folder / "manifest.json").read_text())
    files = {f["path"]: f for f in manifest["files"]}
    assert len(files) == 1 + 3 * len(TEAMS)
    for rel, record in files.items():  # every file is whole and is what the manifest says
        assert sha256(folder / rel) == record["sha256"] and (folder / rel).stat().st_size == record["bytes"]
    record = files["scoring/Aurora/per_image_scores.csv"]
    assert record["team"] == record["owner"] == "Aurora" and record["submission_id"] == 1
    assert record["endpoint"] == "GET /api/submissions/1/get_details/ -> scoring_result"
    # The stored values (10 decimals), not get_leaderboard's rounded strings.
    board = (folder / "leaderboard.csv").read_text().splitlines()
    assert board[0] == "team,Score,GlobalScore,LPIPS_person,DeltaE_person,PSNR_bg,SSIM_global,submission_id"
    assert all(re.fullmatch(r"\d+\.\d{10}", v) for v in board[1].split(",")[1:7]), board[1]
    # Presigned URLs were used as given, without the token.
    assert len(site.storage_gets()) == len(TEAMS) and site.storage_with_auth() == []
    skipped = {(s["team"], s["status"]) for s in manifest["skipped"]}
    assert skipped == {("Borealis", "Submitting"), ("Ember", "Failed")}
    assert "skipped: Borealis submission 3: no outputs (Submitting)" in out
    assert "Execution Time Limit exceeded" in out
    assert "?X-Amz-Signature" not in (folder / "manifest.json").read_text()
    assert_no_secret(token, out, err, folder)
    assert_nothing_partial(folder)


def test_pulled_phase2_folder_gives_score_intervals_and_tie_marks(token, tmp_path, capsys, monkeypatch):
    with Server(phase2_site(token)) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        assert pull(capsys, tmp_path / "p2")[0] == 0
    code, out, err = run(capsys, "leaderboard", "--phase2", tmp_path / "p2",
                         "--output-dir", tmp_path / "site")
    assert code == 0, err
    assert "pulled from Codabench, phase 2 (Phase 2: Validation) of competition 1" in out
    table = pd.read_csv(tmp_path / "site" / "phase2.csv")
    assert (table["score_low"] < table["Score"]).all() and (table["Score"] < table["score_high"]).all()
    tied = table.loc[table["tied_with_next"], "team"].tolist()
    assert len(tied) == 1 and tied[0] in NEAR_EQUAL
    assert "tied-next" in (tmp_path / "site" / "index.html").read_text()


def test_interrupted_pull_resumed_fetches_only_what_is_missing(token, tmp_path, capsys, monkeypatch):
    site = phase2_site(token)
    third = "/private/scoring_result/4/scoring_result.zip"  # Cirrus (submission 4)
    site.plant(third, "drop", "drop")  # the connection drops on both tries
    folder = tmp_path / "p2"
    with Server(site) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        code, out, err = pull(capsys, folder)
        assert code != 0
        assert "scoring_result of submission 4 (Cirrus)" in error_line(err)
        assert not (folder / "scoring" / "Cirrus").exists()
        assert_nothing_partial(folder)
        recorded = {f["path"] for f in json.loads((folder / "manifest.json").read_text())["files"]}
        assert not any("Cirrus" in p for p in recorded)

        before = len(site.storage_gets())
        code, out, err = pull(capsys, folder)
        assert code == 0, err
        assert site.storage_gets()[before:] == [third]  # only the missing one
        assert "1 file(s) fetched" in out

        before = len(site.storage_gets())
        (folder / "scoring" / "Aurora" / "scores.json").write_text("{}")  # sha256 differs now
        code, out, err = pull(capsys, folder)
        assert code == 0, err
        assert site.storage_gets()[before:] == ["/private/scoring_result/1/scoring_result.zip"]
        before = len(site.storage_gets())
        assert pull(capsys, folder)[0] == 0 and site.storage_gets()[before:] == []
        code, out, err = pull(capsys, folder, "--top", "2")  # fewer teams: the others' files go
        assert code == 0 and site.storage_gets()[before:] == []
        board = pd.read_csv(folder / "leaderboard.csv")
        assert len(board) == 2
        assert sorted(p.name for p in (folder / "scoring").iterdir()) == sorted(board["team"])
    manifest = json.loads((folder / "manifest.json").read_text())
    for record in manifest["files"]:
        assert sha256(folder / record["path"]) == record["sha256"]
    assert_no_secret(token, out, err, folder)


@pytest.mark.parametrize(("faults", "words"), [
    (("500",), None),
    (("timeout", "timeout"), "timed out after 1 s (2 tries)"),
    (("truncate", "truncate"), "truncated: "),
    (("403",), "storage refused the download (403"),
], ids=["5xx-then-success", "timeout", "truncated", "403"])
def test_faults_end_in_one_line_and_nothing_half_written(token, tmp_path, capsys, monkeypatch, faults, words):
    site = phase2_site(token, slow_s=2.5)
    target = "/private/scoring_result/1/scoring_result.zip"
    site.plant(target, *faults)
    if faults == ("500",):  # the API too: a 5xx that echoes the Authorization header back
        site.plant("/api/submissions/", "500")
    folder = tmp_path / "p2"
    with Server(site) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        code, out, err = pull(capsys, folder, "--timeout", "1", "--jobs", "1")
    assert_no_secret(token, out, err, folder)
    assert_nothing_partial(folder)
    if words is None:
        assert code == 0, err
        assert "retrying" in err and "<redacted>" in err
        assert site.storage_gets().count(target) == 2
        return
    assert code == 2
    assert words in error_line(err) and "scoring_result of submission 1 (Aurora)" in error_line(err)
    assert not (folder / "scoring" / "Aurora").exists()


def test_bad_token_is_one_line(token, tmp_path, capsys, monkeypatch):
    with Server(phase2_site("another-token")) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        code, out, err = pull(capsys, tmp_path / "p2")
    assert code == 2
    assert "refused the token (403 Invalid token.)" in error_line(err)
    assert_no_secret(token, out, err, tmp_path)


def test_credentials_file_must_be_private_and_password_login_works(token, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CODABENCH_TOKEN")
    password = "pw" + secrets.token_hex(8)
    site = phase2_site(token, users={"org": password})
    with Server(site) as url:
        file = tmp_path / "codabench.env"
        file.write_text(f"CODABENCH_URL={url}\nCODABENCH_USERNAME=org\nCODABENCH_PASSWORD={password}\n")
        file.chmod(0o644)
        code, out, err = pull(capsys, tmp_path / "p2", "--credentials", file)
        assert code == 2 and "mode 0644" in error_line(err) and "chmod 600" in error_line(err)
        file.chmod(0o600)
        code, out, err = pull(capsys, tmp_path / "p2", "--credentials", file)
    assert code == 0, err
    assert site.requests[0]["path"] == "/api/api-token-auth/"
    assert_no_secret(token, out, err, tmp_path / "p2")
    assert_no_secret(password, out, err, tmp_path / "p2")


def _queued(tmp_path: Path) -> Path:
    """The built bundle with `queue:` set, zipped as the builder zips."""
    folder = tmp_path / "queued"
    shutil.copytree(unpacked_bundle(), folder)
    yaml = folder / "competition.yaml"
    yaml.write_text(yaml.read_text() + "\nqueue: 6f7c2c2e-1f55-4a8b-9d7e-0a4f3c1b2d3e\n")
    return zip_folder(folder, tmp_path / "queued.zip")


def test_upload_refuses_the_default_queue_unless_told_and_polls_to_finished(token, tmp_path, capsys,
                                                                           monkeypatch):
    bundle = built_bundle()
    site = Site(token=token, creation=[{"status": "Starting", "details": None},
                                       {"status": "Starting", "details": None},
                                       {"status": "Finished", "details": None, "resulting_competition": 1}])
    with Server(site) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        code, out, err = run(capsys, "codabench", "upload", bundle, "--poll", "0.01")
        line = error_line(err)
        assert code == 2 and "phase 3 (Phase 3: Final test)" in line and "queue:" in line
        assert "--allow-default-queue" in line and site.requests == []
        code, out, err = run(capsys, "codabench", "upload", bundle, "--allow-default-queue", "--poll", "0.01")
        assert code == 0, err
        assert out.strip() == f"Competition 1 created: {url}/competitions/1/"
        assert err.count("unpacking on") == 3
        (uploaded,) = site.uploaded.values()
        assert uploaded == bundle.read_bytes() and site.storage_with_auth() == []
        assert site.created["type"] == "competition_bundle" and site.created["file_size"] == len(uploaded)
        code, out, err = run(capsys, "codabench", "upload", _queued(tmp_path), "--poll", "0.01")
        assert code == 0, err
    assert_no_secret(token, out, err, tmp_path)


def test_upload_failed_prints_codabench_details_in_one_line(token, tmp_path, capsys, monkeypatch):
    failed = {"status": "Failed", "details": "Error: Invalid YAML\n  phases[2]: bad"}
    site = Site(token=token, creation=[failed])
    with Server(site) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        code, out, err = run(capsys, "codabench", "upload", _queued(tmp_path), "--poll", "0.01")
    assert code == 2
    assert error_line(err).endswith("could not create the competition: Error: Invalid YAML phases[2]: bad")


def test_built_bundle_budget_follows_the_default_queue_and_stops_a_slow_model(tmp_path):
    budget = ingestion_time_budget(unpacked_bundle() / "ingestion_program")
    assert budget is not None and budget <= DEFAULT_QUEUE_TIME_CAP - INGESTION_START_MARGIN_S < 600
    # The same mechanism with a budget this test can wait for: a model taking half of it per image.
    from .test_ingestion_failures import worker_start_up_s

    small = float(int(3 * worker_start_up_s() + 5))
    folder = tmp_path / "bundle"
    shutil.copytree(unpacked_bundle(), folder)
    set_time_budget(folder / "ingestion_program", small, "test")
    assert ingestion_time_budget(folder / "ingestion_program") == small
    bundle = zip_folder(folder, tmp_path / "small.zip")
    model = tmp_path / "slow"
    model.mkdir()
    (model / "model.py").write_text(
        "import time\n\n\nclass Model:\n    def __init__(self, weights_dir, device):\n        pass\n\n"
        f"    def restore(self, image, person_mask):\n        time.sleep({small / 2})\n"
        "        return image\n")
    (model / "metadata").write_text("description: slow\n")
    submission = zip_folder(model, tmp_path / "slow.zip")
    done = subprocess.run([sys.executable, "-m", "aiflash", "codabench-run", bundle, submission,
                           "--phase", "3", "--keep", tmp_path / "jobs"], capture_output=True, text=True,
                          cwd=REPO, env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=600)
    assert "Execution Time Limit exceeded" not in done.stdout, done.stdout
    found = sorted((tmp_path / "jobs").rglob("ingestion.json"))
    record_path = next(p for p in found if "prediction" in p.parts and "output" in p.parts)
    record = json.loads(record_path.read_text())
    assert record["limits"]["time_budget_s"] == small
    errors = [i["error"] for i in record["images"] if i["status"] != "ok"]
    assert errors and all(f"total time budget of {small:g} s" in e for e in errors), errors


def test_rerun_asks_first_then_prints_the_new_ids_and_status_follows_them(token, tmp_path, capsys,
                                                                         monkeypatch):
    site = phase2_site(token)
    with Server(site) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        args = ("codabench", "rerun", "--competition", "1", "--phase", "2", "--submissions", "1,2")
        code, out, err = run(capsys, *args)  # pytest's stdin is no terminal
        assert code == 2 and "pass --yes" in error_line(err)
        assert not [r for r in site.requests if "re_run" in r["path"]]
        code, out, err = run(capsys, *args, "--yes")
        assert code == 0, err
        assert "New submission(s): 8, 9" in out
        code, out, err = run(capsys, "codabench", "status", "--submissions", "8,9", "--wait",
                             "--poll", "0.01")
        assert code == 0, err
        lines = out.splitlines()
        assert "8  Aurora  Running" in lines and "9  Borealis  Running" in lines
        assert any(line.startswith("8  Aurora  Finished  Score ") for line in lines)
        code, out, err = run(capsys, "codabench", "rerun", "--competition", "1", "--phase", "2", "--all",
                             "--yes")
        assert code == 0, err
        assert re.search(r"New submission\(s\): 10, 11, ", out)
    assert_no_secret(token, out, err, tmp_path)


def test_pulled_phase3_folder_runs_reproduce_with_its_online_scores_and_outputs(token, tmp_path, capsys,
                                                                               monkeypatch):
    per_image = planted_per_image(["alice"], 4, seed=2)["alice"]
    site = Site(token=token, phase=3, teams=[Team("alice", per_image)])
    folder = tmp_path / "p3"
    with Server(site) as url:
        monkeypatch.setenv("CODABENCH_URL", url)
        code, out, err = pull(capsys, folder, phase=3)
    assert code == 0, err
    assert zipfile.ZipFile(folder / "submissions" / "alice.zip").namelist() == ["model.py", "metadata"]
    assert "ingestion.json" in zipfile.ZipFile(folder / "predictions" / "alice.zip").namelist()
    assert f"aiflash reproduce --submissions {folder}" in out
    assert_no_secret(token, out, err, folder)
    code, out, err = run(capsys, "reproduce", "--runner", "local", "--gpus", "none", "--submissions", folder,
                         "--data", SAMPLE, "--output-dir", tmp_path / "repro", "--bundle", built_bundle())
    assert code == 0, err
    report = json.loads((tmp_path / "repro" / "reproduction.json").read_text())
    assert report["meta"]["online_leaderboard"] == str(folder / "leaderboard.csv")
    assert report["meta"]["online_outputs"] == str(folder / "predictions")
    (row,) = report["teams"]
    online = float(pd.read_csv(folder / "leaderboard.csv")["Score"][0])
    assert row["team"] == "alice" and row["status"] == "ok" and row["online_Score"] == pytest.approx(online)
    assert (tmp_path / "repro" / "teams" / "alice" / "consistency.json").is_file()
