"""The reproduction's bookkeeping: online leaderboard CSV, flags, report files, and unpacking team
submissions safely."""

from __future__ import annotations

import json
import re
import stat
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from aiflash.reproduce.errors import ReproductionError
from aiflash.reproduce.report import build_table, read_online_scores, write_report
from aiflash.reproduce.results import TeamResult, summarise_ingestion
from aiflash.reproduce.schedule import Assignment
from aiflash.reproduce.submissions import SubmissionUnusable, TeamSubmission, discover, layout_hint, stage


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "online.csv"
    path.write_text(text)
    return path


def test_online_csv_headers_and_names(tmp_path):
    scores = read_online_scores(_csv(tmp_path, "\ufeffRank,Team,Score\n1, Team  Alpha ,71.25\n2,bravo,60\n"))
    assert scores == {"team alpha": ("Team  Alpha", 71.25), "bravo": ("bravo", 60.0)}
    assert read_online_scores(_csv(tmp_path, "username,score\nx,1.5\n")) == {"x": ("x", 1.5)}


@pytest.mark.parametrize("text, message", [
    ("team,PSNR\na,1\n", "Score column"),
    ("team,Score\na,abc\n", "not a number"),
    ("team,Score\na,1\nA,2\n", "appears twice"),
    ("team,Score\n,1\n", "empty team"),
    ("team,Score\na,nan\n", "not finite"),
])
def test_online_csv_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(ReproductionError, match=message):
        read_online_scores(_csv(tmp_path, text))


def _result(team: str, status: str = "ok", score: float | None = 70.0, **more) -> TeamResult:
    scores = {"Score": score, "LPIPS_person": 0.05} if score is not None else {}
    return TeamResult(team=team, status=status, scores=scores, **more)


def test_flags_and_differences():
    online = {"a": ("a", 70.5), "b": ("b", 70.5001), "c": ("c", 80.0), "ghost": ("ghost", 50.0)}
    results = [_result("a"), _result("b"), _result("c", "failed", None, reason="boom"),
               _result("d"), _result("e", "error", None, reason="docker down")]
    table = build_table(results, online, tolerance=0.5).set_index("team")
    assert table.loc["a", "flag"] == "" and table.loc["a", "difference"] == pytest.approx(-0.5)
    assert table.loc["b", "flag"] == "DISCREPANCY" and bool(table.loc["b", "discrepancy"])
    assert table.loc["c", "flag"] == "FAILED" and table.loc["c", "reason"] == "boom"
    assert table.loc["d", "flag"] == "NO ONLINE SCORE"
    assert table.loc["e", "flag"] == "NOT RUN"
    assert table.loc["ghost", "flag"] == "NO SUBMISSION" and table.loc["ghost", "status"] == "missing"
    assert list(table.index)[-1] == "a"  # flagged rows first
    no_online = build_table(results[:1], None, 0.5)
    assert no_online.loc[0, "flag"] == "" and pd.isna(no_online.loc[0, "online_Score"])


def test_report_files(tmp_path):
    online = {"a": ("a", 60.0)}
    results = [_result("a", gpu="0", device="NVIDIA H100", guard_findings=("0001: resize 512->1024",)),
               _result("<b>", "failed", None, reason="scoring failed: 0002.png missing", gpu="1")]
    table = build_table(results, online, 0.5)
    timeline = [Assignment("a", "0", 0.0, 5.0), Assignment("<b>", "1", 0.1, 2.0)]
    paths = write_report(tmp_path, table, {"tolerance": 0.5, "runner": "docker"}, timeline)
    document = json.loads(paths["json"].read_text())  # strict JSON: no NaN
    assert {row["team"]: row["flag"] for row in document["teams"]} == {"a": "DISCREPANCY", "<b>": "FAILED"}
    assert document["timeline"][0] == {"team": "a", "gpu": "0", "start_s": 0.0, "end_s": 5.0}
    page = paths["html"].read_text()
    assert "&lt;b&gt;" in page and ">&lt;b&gt;<" in page and "><b><" not in page  # escaped
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # self-contained
    assert "0002.png missing" in page and "+10.0000" in page
    assert paths["csv"].read_text().splitlines()[0].startswith("team,status,flag,Score,online_Score")


def test_review_flag_from_rescale_verdicts(tmp_path):
    results = [_result("clean", rescale_verdicts={"clean": 4, "flagged": 0, "rejected": 0}),
               _result("looked-at", rescale_verdicts={"clean": 2, "flagged": 1, "rejected": 1})]
    table = build_table(results, None, 0.5).set_index("team")
    assert table.loc["clean", "review"] == "" and table.loc["clean", "rescale_clean"] == 4
    assert table.loc["looked-at", "review"] == "REVIEW: 1 flagged, 1 rejected image(s)"
    assert list(table.index) == ["looked-at", "clean"]  # teams to review first
    paths = write_report(tmp_path, table.reset_index(), {"tolerance": 0.5}, [])
    page = paths["html"].read_text()
    assert "REVIEW: 1 flagged, 1 rejected image(s)" in page and "<span class='badge review'>REVIEW: 1" in page


def test_ingestion_summary(tmp_path):
    assert summarise_ingestion(tmp_path).images is None  # no ingestion.json: nothing known
    (tmp_path / "ingestion.json").write_text("{not json")
    assert summarise_ingestion(tmp_path).images is None
    finding = {"function": "cv2.resize", "input_size": [768, 1024], "output_size": [384, 512],
               "channels": 3, "caller": "model.py:12", "image": "0002", "count": 1}
    record = {
        "format": "aiflash-ingestion/1", "mean_model_s": 0.5,
        "environment": {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3 (CUDA 13.0)"},
        "images": [{"image": "0001", "status": "ok", "error": None, "model_s": 0.5},
                   {"image": "0002", "status": "failed", "error": "rescaling detected", "model_s": 1.5}],
        "guard_findings": [finding],
    }
    (tmp_path / "ingestion.json").write_text(json.dumps(record))
    summary = summarise_ingestion(tmp_path)
    assert (summary.images, summary.images_failed, summary.seconds_per_image) == (2, 1, 0.5)
    assert summary.device == "NVIDIA H100 80GB HBM3 (CUDA 13.0)"
    (text,) = summary.guard_findings  # a record from before severities: shown as a flag
    assert text.startswith("[flag] 0002: model.py:12 called cv2.resize to downscale 3-channel data")
    assert summary.failures == ("0002: rescaling detected",)


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_stage_zip_skips_macos_junk_and_keeps_the_root(tmp_path):
    archive = _zip(tmp_path / "t.zip", {"model.py": b"x", "weights/w.bin": b"1",
                                        "__MACOSX/._model.py": b"junk", "._model.py": b"junk"})
    dest = tmp_path / "staged"
    stage(TeamSubmission("t", archive), dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == \
        ["model.py", "weights/w.bin"]
    assert layout_hint(dest) == ""


@pytest.mark.parametrize("members, symlink, message", [
    ({"../evil.py": b"x"}, None, "unsafe path"),
    ({"/abs.py": b"x"}, None, "unsafe path"),
    ({"model.py": b"x"}, "link", "symbolic link"),
])
def test_stage_refuses_unsafe_zips(tmp_path, members, symlink, message):
    archive = _zip(tmp_path / "t.zip", members, symlink)
    with pytest.raises(SubmissionUnusable, match=message):
        stage(TeamSubmission("t", archive), tmp_path / "staged")
    assert not (tmp_path / "evil.py").exists()


def test_stage_refuses_links_in_folders_and_hints_wrapped_code(tmp_path):
    folder = tmp_path / "subs" / "t"
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "model.py").write_text("x")
    stage(TeamSubmission("t", folder), tmp_path / "staged")
    assert layout_hint(tmp_path / "staged") == ""  # one wrapping folder: the ingestion finds it
    (folder / "README.md").write_text("x")
    stage(TeamSubmission("t", folder), tmp_path / "staged")
    assert "inner/model.py" in layout_hint(tmp_path / "staged")
    (folder / "gt").symlink_to(tmp_path)
    with pytest.raises(SubmissionUnusable, match="symbolic link"):
        stage(TeamSubmission("t", folder), tmp_path / "staged")


def test_discover(tmp_path):
    subs = tmp_path / "subs"
    (subs / "b").mkdir(parents=True)
    (subs / ".hidden").mkdir()
    _zip(subs / "a.zip", {"model.py": b"x"})
    (subs / "notes.txt").write_text("x")
    assert [s.team for s in discover(subs)] == ["a", "b"]
    assert [s.team for s in discover(subs, {"b"})] == ["b"]
    with pytest.raises(ReproductionError, match="no submission for team"):
        discover(subs, {"zzz"})
    _zip(subs / "b.zip", {"model.py": b"x"})
    with pytest.raises(ReproductionError, match="both a zip and a folder"):
        discover(subs)


def test_organiser_walkthrough_matches_the_tool():
    from aiflash.cli import build_parser

    doc = (Path(__file__).resolve().parents[1] / "docs" / "organisers.md").read_text()
    for step in ("make docker", "make pin-image", "make reproduce", "reproduction.html", "queue:",
                 "USE_GPU=True", "GPU_DEVICE=nvidia.com/gpu=0", "nvidia-ctk cdi", "580.65.06"):
        assert step in doc, step
    subparsers = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    options = {o for action in subparsers.choices["reproduce"]._actions for o in action.option_strings}
    table = "\n".join(line for line in doc.splitlines() if line.startswith("| `--"))  # options table
    documented = set(re.findall(r"(--[a-z][a-z-]+)", table))
    assert len(documented) >= 10
    assert documented <= options, sorted(documented - options)
