"""Reproduction accepts what Codabench accepts: a model that writes next to itself (a converted
cache in its own folder) and one that writes temporary files (``tempfile``: its private TMPDIR)
both get the same Score from `aiflash
reproduce --runner local` as from `codabench-run` (the worker simulation on the built bundle).
The container runner's command lines for these teams are checked in test_reproduce_container.py
(the submission copy writable, every other mount but the output read-only) and here, through
`--dry-run`, on the real bundle's programs."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest

from aiflash.cli import main

from .conftest import FIXTURES, SAMPLE
from .test_bundle_helpers import built_bundle, run_cli, zip_tree

WRITERS = ("writes_own_folder", "writes_tmp")


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    root = tmp_path_factory.mktemp("writers")
    submissions = root / "submissions"
    for team in WRITERS:
        shutil.copytree(FIXTURES / "submissions" / team, submissions / team)
    out = root / "out"
    code = main(["reproduce", "--runner", "local", "--gpus", "none", "--submissions", str(submissions),
                 "--data", str(SAMPLE), "--output-dir", str(out), "--bundle", str(built_bundle())])
    records = {team: json.loads((out / "teams" / team / "result.json").read_text()) for team in WRITERS}
    return {"code": code, "out": out, "records": records, "submissions": submissions, "root": root}


@pytest.mark.parametrize("team", WRITERS)
def test_writing_submission_gets_the_codabench_score(reproduced, team, tmp_path):
    record = reproduced["records"][team]
    assert reproduced["code"] == 0
    assert record["status"] == "ok" and record["images_failed"] == 0, record["reason"]
    if team == "writes_own_folder":  # it really wrote into its private copy, not into the original
        copy = reproduced["out"] / "teams" / team / "submission"
        assert json.loads((copy / "cache" / "converted.json").read_text()) == {"gain": 1.25}
        assert not (reproduced["submissions"] / team / "cache").exists()
    archive = zip_tree(FIXTURES / "submissions" / team, tmp_path / f"{team}.zip")
    keep = tmp_path / "jobs"
    result = run_cli("codabench-run", built_bundle(), archive, "--phase", 3, "--keep", keep)
    assert result.returncode == 0, result.stdout + result.stderr
    online = json.loads((keep / "run" / "scoring" / "output" / "scores.json").read_text())
    assert record["scores"]["Score"] == pytest.approx(online["Score"], abs=1e-9)


def test_container_commands_mount_the_copy_writable_and_the_rest_read_only(reproduced, capsys):
    code = main(["reproduce", "--submissions", str(reproduced["submissions"]), "--data", str(SAMPLE),
                 "--output-dir", str(reproduced["root"] / "dry"), "--bundle", str(built_bundle()),
                 "--gpus", "0", "--dry-run"])
    assert code == 0
    out = capsys.readouterr().out
    lines = [shlex.split(line) for line in out.splitlines() if line.startswith("docker run")]
    assert len(lines) == 4
    for argv in lines:
        assert "--read-only" in argv and argv[argv.index("--network") + 1] == "none"
        specs = [dict(part.split("=", 1) if "=" in part else (part, "") for part in argv[i + 1].split(","))
                 for i, flag in enumerate(argv) if flag == "--mount"]
        writable = sorted(s["target"] for s in specs if "readonly" not in s)
        ingestion = any(s["target"] == "/app/ingested_program" for s in specs)
        assert writable == (["/app/ingested_program", "/app/output"] if ingestion else ["/app/output"])
        program = next(s for s in specs if s["target"] == "/app/program")
        assert "/programs/" in program["source"] and "readonly" in program
