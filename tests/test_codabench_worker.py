"""The worker simulation's Codabench semantics, with tiny real programs run as subprocesses: time
limit, exit codes, scores.json reading, the reserved metadata file, result-zip copying, paths."""

from __future__ import annotations

import sys
import textwrap
import time
import zipfile
from pathlib import Path

import yaml

from aiflash.bundle.worker import (
    BAD_ZIP,
    METADATA_EXISTS,
    METADATA_NOT_FOUND,
    NO_SCORES_FILE,
    TaskFiles,
    build_argv,
    leaderboard_row,
    run_submission,
)

BOARD = {"columns": [
    {"title": "Score", "key": "Score", "index": 0, "precision": 3},
    {"title": "LPIPS (person)", "key": "LPIPS_person", "index": 1, "precision": 4},
    {"title": "Mean", "key": "mean", "index": 2, "computation": "avg", "computation_indexes": [0, 1]},
]}


def program(folder: Path, body: str, command: str = "python3 prog.py") -> Path:
    """A program folder: metadata.yaml with ``command`` and prog.py taking our scoring options."""
    folder.mkdir(parents=True)
    (folder / "metadata.yaml").write_text(f"command: {command}\n")
    (folder / "prog.py").write_text(textwrap.dedent("""\
        import argparse, json, math, sys, time
        from pathlib import Path
        p = argparse.ArgumentParser()
        p.add_argument("--reference-dir", type=Path, default=Path("/app/input/ref"))
        p.add_argument("--prediction-dir", type=Path, default=Path("/app/input/res"))
        p.add_argument("--output-dir", type=Path, default=Path("/app/output"))
        a = p.parse_args()
        """) + textwrap.dedent(body))
    return folder


def submission(tmp_path: Path, files: dict[str, str]) -> Path:
    archive = tmp_path / "submission.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name, text in files.items():
            out.writestr(name, text)
    return archive


def run(tmp_path: Path, body: str, files: dict[str, str] | None = None, limit: int = 60, **task):
    task_files = TaskFiles("t", program(tmp_path / "scoring", body), **task)
    zipped = submission(tmp_path, files or {"0001.png": "x"})
    return run_submission(task_files, zipped, tmp_path / "run", limit)


def test_result_zip_is_copied_and_scored(tmp_path):
    body = """
        names = sorted(p.name for p in a.prediction_dir.iterdir())
        scores = {"Score": 80.12345, "extra": 1, "n": len(names)}
        (a.output_dir / "scores.json").write_text(json.dumps(scores))
        (a.output_dir / "names.txt").write_text(",".join(names))
    """
    result = run(tmp_path, body)
    assert result.status == "Finished" and result.ok
    # the worker's own metadata file travels with the results into input/res
    assert (tmp_path / "run" / "scoring" / "output" / "names.txt").read_text() == "0001.png,metadata"
    metadata = yaml.safe_load((tmp_path / "run" / "prediction" / "output" / "metadata").read_text())
    assert set(metadata) == {"exitCode", "elapsedTime", "ingestionExitCode", "ingestionElapsedTime"}
    assert metadata["exitCode"] is None and metadata["ingestionExitCode"] is None
    assert leaderboard_row(BOARD, result.scores) == [("Score", "80.123"), ("LPIPS (person)", "n/a"),
                                                      ("Mean", "n/a")]
    assert leaderboard_row(BOARD, {"Score": 80.0, "LPIPS_person": 0.1})[2] == ("Mean", "40.05")


def test_time_limit_kills_the_job(tmp_path):
    started = time.monotonic()
    result = run(tmp_path, "time.sleep(60)\n", limit=1)
    assert time.monotonic() - started < 45  # killed long before the 60 s sleep ends, even when loaded
    assert result.status == "Failed"
    assert result.reason == "Execution Time Limit exceeded. Limit was 1 seconds"


def test_non_zero_exit_fails_with_the_last_stderr_line(tmp_path):
    result = run(tmp_path, 'print("working"); print("detail", file=sys.stderr)\n'
                           'sys.exit("error: 0003.png is 512x512, expected 1024x768")\n')
    assert result.status == "Failed"
    assert result.reason == ("scoring program exited with code 1: "
                             "error: 0003.png is 512x512, expected 1024x768")


def test_missing_or_broken_scores_file(tmp_path):
    assert run(tmp_path / "a", "pass\n").reason == NO_SCORES_FILE
    broken = run(tmp_path / "b", '(a.output_dir / "scores.json").write_text("{Score: 1")\n')
    assert broken.status == "Failed" and broken.reason.startswith("Could not decode scores json properly")


def test_non_finite_or_nested_scores_leave_finished_without_scores(tmp_path):
    nan = run(tmp_path / "a", '(a.output_dir / "scores.json").write_text(\'{"Score": NaN}\')\n')
    assert nan.status == "Finished" and nan.scores is None and "NaN" in nan.scores_note
    nested = run(tmp_path / "b", '(a.output_dir / "scores.json").write_text(\'{"Score": {"v": 1}}\')\n')
    assert nested.status == "Finished" and nested.scores is None and "not a number" in nested.scores_note


def test_program_writing_metadata_fails(tmp_path):
    body = """
        (a.output_dir / "scores.json").write_text('{"Score": 1}')
        (a.output_dir / "metadata").write_text("mine")
    """
    result = run(tmp_path, body)
    assert result.status == "Failed" and result.reason.startswith(METADATA_EXISTS)


def test_result_zip_with_a_metadata_file_fails_as_on_the_worker(tmp_path):
    """Codabench's worker: a command-less metadata file means "a program for the ingestion": nothing
    is copied, nothing runs, so no output folder exists when push_output writes its metadata file
    ("Metadata file not found"); the scoring job, queued when "Scoring" was reported, then finds no
    prediction_result.zip ("Bad or empty zip file"). Scoring never runs."""
    body = '(a.output_dir / "scores.json").write_text(json.dumps({"Score": 1}))\n'
    result = run(tmp_path, body, files={"0001.png": "x", "metadata": "description: my results\n"})
    assert result.prediction.runs[0].action.startswith("skipped: metadata has no command")
    assert result.prediction.failure == METADATA_NOT_FOUND and result.prediction.failed_after_scoring_queued
    assert result.status == "Failed" and result.scores is None
    assert result.reason == f"{METADATA_NOT_FOUND} (prediction job), then {BAD_ZIP} (scoring job)"
    assert result.scoring is not None and result.scoring.failure.startswith(BAD_ZIP)
    assert result.scoring.runs == [] and not (tmp_path / "run" / "scoring" / "output").exists()
    assert not (tmp_path / "run" / "prediction" / "output").exists()


def test_code_submission_without_metadata_is_copied_into_the_output(tmp_path):
    """The real worker copies a metadata-less submission (weights included) into the prediction
    output; a command-less metadata file keeps it out."""
    ingestion = tmp_path / "ingestion"
    ingestion.mkdir()
    (ingestion / "metadata.yaml").write_text("command: python3 ing.py\n")
    (ingestion / "ing.py").write_text("import sys\nsys.exit(0)\n")  # writes nothing
    body = '(a.output_dir / "scores.json").write_text(json.dumps({"Score": 1}))\n'
    code = {"model.py": "x = 1\n", "weights.bin": "w" * 1000}
    bare = run(tmp_path / "bare", body, files=code, ingestion_program=ingestion)
    described = run(tmp_path / "described", body, files={**code, "metadata": "description: mine\n"},
                    ingestion_program=ingestion)
    assert bare.ok and described.ok
    with zipfile.ZipFile(tmp_path / "bare" / "run" / "prediction" / "prediction_result.zip") as archive:
        assert {"model.py", "weights.bin", "metadata"} <= set(archive.namelist())
    with zipfile.ZipFile(tmp_path / "described" / "run" / "prediction" / "prediction_result.zip") as archive:
        assert archive.namelist() == ["metadata"]  # the worker's own file only
    assert described.prediction.runs[0].action.startswith("skipped: metadata has no command")


def test_ingestion_without_metadata_is_swallowed(tmp_path):
    ingestion = tmp_path / "ingestion"
    ingestion.mkdir()
    (ingestion / "ingestion.py").write_text("raise SystemExit(1)\n")
    result = run(tmp_path, '(a.output_dir / "scores.json").write_text(\'{"Score": 2}\')\n',
                 ingestion_program=ingestion)
    (sub, ing) = result.prediction.runs
    assert sub.action == "copied into output"
    assert ing.action == "error: Program directory missing 'metadata.yaml/metadata'"
    assert result.ok  # Codabench goes on to scoring regardless


def test_bad_zip_fails(tmp_path):
    (tmp_path / "bad.zip").write_text("not a zip")
    task = TaskFiles("t", program(tmp_path / "scoring", "pass\n"))
    result = run_submission(task, tmp_path / "bad.zip", tmp_path / "run", 10)
    assert result.status == "Failed" and result.reason.startswith("Bad or empty zip file")


def test_command_is_split_without_a_shell_and_mounts_are_mapped(tmp_path):
    mounts = {"/app/program": tmp_path / "p", "/app/input": tmp_path / "in", "/app/output": tmp_path / "o"}
    argv = build_argv("python3 score.py $hidden --out=/app/output/x '$a b' && echo", "program", "scoring",
                      mounts, {"--output-dir": "/app/output"})
    assert argv == [sys.executable, "score.py", str(tmp_path / "in" / "ref"), f"--out={tmp_path}/o/x",
                    "$a b", "&&", "echo", "--output-dir", str(tmp_path / "o")]


def test_a_command_that_cannot_start_fails_like_a_container(tmp_path):
    task = TaskFiles("t", program(tmp_path / "scoring", "pass\n", command="Rscript score.R"))
    zipped = submission(tmp_path, {"0001.png": "x"})
    result = run_submission(task, zipped, tmp_path / "run", 10)
    assert result.status == "Failed"
    assert result.reason.startswith("scoring program exited with code 127: Rscript: cannot be executed")
