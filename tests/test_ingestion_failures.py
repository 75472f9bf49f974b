"""Models that fail: each failure is reported by image name with a line a participant can act on,
the other images complete, limits stop hangs, and scoring then fails naming the image."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from .conftest import REPO
from .test_ingestion import STEMS, ingest, make_input_data, one_error_line, record, score, write_submission

RAISES_ON_0003 = """
    class Model:
        def __init__(self, weights_dir, device):
            self.calls = 0

        def restore(self, image, person_mask):
            self.calls += 1  # images come in name order: the third is 0003
            if self.calls == 3:
                raise ValueError("cannot handle this scene: too dark")
            return image
"""

# 0002 spins in Python, 0003 blocks in a C call; 0001 and 0004 are fine.
HANGS = """
    import time


    class Model:
        def __init__(self, weights_dir, device):
            pass

        def restore(self, image, person_mask):
            brightness = int(image[::64, ::64].sum())
            if brightness == BRIGHTNESS["0002"]:
                while True:
                    pass
            if brightness == BRIGHTNESS["0003"]:
                time.sleep(3600)
            return image
"""


@pytest.fixture(scope="module")
def input_data(tmp_path_factory):
    return make_input_data(tmp_path_factory.mktemp("input"))


def brightness_table(input_data) -> str:
    """Per-stem fingerprints so a test model can tell the images apart without their names."""
    from aiflash.images import read_rgb

    values = {}
    for stem in STEMS:
        image, _ = read_rgb(next((input_data / "input").glob(f"{stem}.*")))
        values[stem] = int(image[::64, ::64].sum())
    assert len(set(values.values())) == len(values)
    return f"BRIGHTNESS = {values!r}\n"


def test_model_raising_on_one_image(tmp_path, input_data):
    submission = write_submission(tmp_path, RAISES_ON_0003)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    assert done.returncode != 0
    line = one_error_line(done.stderr)
    assert "1 of 4 image(s) failed" in line
    assert "0003: restore() raised ValueError: cannot handle this scene: too dark (model.py:" in line
    data = record(output)
    assert [e["status"] for e in data["images"]] == ["ok", "ok", "failed", "ok"]
    failed = data["images"][2]
    assert failed["image"] == "0003" and "Traceback" in failed["details"]
    assert sorted(p.name for p in output.glob("*.png")) == ["0001.png", "0002.png", "0004.png"]
    assert data["worker_starts"] == 1  # an exception does not cost a restart
    assert "ValueError: cannot handle this scene" in done.stderr  # the participant's traceback, shown

    scored = score(output, tmp_path / "scores")
    assert scored.returncode != 0
    score_line = one_error_line(scored.stderr)
    assert "1 image(s) failed in the model run (0003)" in score_line
    assert "ValueError: cannot handle this scene: too dark" in score_line
    assert "missing" not in score_line
    assert not (tmp_path / "scores" / "scores.json").exists()


def test_hanging_model_is_stopped_at_the_limit_and_restarted(tmp_path, input_data):
    source = HANGS.replace("import time\n", "import time\n    " + brightness_table(input_data))
    submission = write_submission(tmp_path, source)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output, "--image-time-limit", "4")
    assert done.returncode != 0
    data = record(output)
    statuses = {e["image"]: e for e in data["images"]}
    assert statuses["0001"]["status"] == "ok" and statuses["0004"]["status"] == "ok"
    spin, sleep = statuses["0002"]["error"], statuses["0003"]["error"]
    assert spin.startswith("stopped after 4 s (it was at model.py:") and "in restore" in spin
    assert "per-image time limit was exceeded" in spin
    assert sleep.startswith("stopped after 4 s") and "per-image time limit" in sleep
    assert 4.0 <= statuses["0002"]["wall_s"] < 4.0 + 30  # the margin is for a loaded machine
    assert data["worker_starts"] == 3
    line = one_error_line(done.stderr)
    assert "2 of 4 image(s) failed" in line and "0002: stopped after 4 s" in line and "0003" in line
    assert sorted(p.name for p in output.glob("*.png")) == ["0001.png", "0004.png"]


def worker_start_up_s() -> float:
    """What starting a worker costs on this machine now (interpreter, torch, the worker module):
    time budgets in tests are set from it, so they hold on a loaded machine."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import torch, cv2, aiflash.ingestion.worker"], check=True,
                   cwd=REPO)
    return time.monotonic() - start


def test_total_budget_stops_the_run_and_reports_images_not_run(tmp_path, input_data):
    # The budget is three times the measured start-up (so loading fits even if the machine gets
    # slower), and each image takes half the budget: whatever start-up really takes, the budget
    # runs out before image 3 ends, so image 4 is never started.
    budget = math.ceil(3 * worker_start_up_s() + 5)
    sleep_s = budget / 2
    submission = write_submission(tmp_path, f"""
        import time


        class Model:
            def __init__(self, weights_dir, device):
                pass

            def restore(self, image, person_mask):
                time.sleep({sleep_s})
                return image
    """)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output, "--time-budget", str(budget), "--image-time-limit", "60")
    assert done.returncode != 0
    data = record(output)
    assert data["total_s"] < budget + 15  # stopped at the budget, plus the kill and the record
    errors = [e["error"] for e in data["images"] if e["status"] != "ok"]
    assert errors and all(f"total time budget of {budget} s" in e for e in errors), errors
    assert data["images"][-1]["status"] == "not_run"
    assert data["images_ok"] + data["images_failed"] == 4


def test_import_error_names_the_missing_package(tmp_path, input_data):
    submission = write_submission(tmp_path, """
        import no_such_package_xyz


        class Model:
            pass
    """)
    done = ingest(input_data, submission, tmp_path / "out")
    assert done.returncode != 0
    line = one_error_line(done.stderr)
    assert "4 of 4 image(s) failed" in line
    assert "model.py: importing it failed: ModuleNotFoundError: No module named 'no_such_package_xyz'" in line
    assert "ship it inside your zip" in line
    data = record(tmp_path / "out")
    assert data["api"] is None and "no_such_package_xyz" in data["load_error"]


def test_model_without_the_api_is_told_what_to_define(tmp_path, input_data):
    submission = write_submission(tmp_path, "def restore(image, mask):\n    return image\n")
    done = ingest(input_data, submission, tmp_path / "out")
    line = one_error_line(done.stderr)
    assert "model.py defines neither a class Model(weights_dir, device)" in line
    assert "main(model_dir, input_path, output_path, device)" in line


def test_crashing_process_is_reported_and_the_rest_complete(tmp_path, input_data):
    submission = write_submission(tmp_path, """
        import os


        class Model:
            def __init__(self, weights_dir, device):
                self.calls = 0

            def restore(self, image, person_mask):
                self.calls += 1
                if self.calls == 2 and not os.path.exists("crashed_once"):  # cwd: the submission
                    open("crashed_once", "w").close()
                    print("about to crash", flush=True)
                    os._exit(3)
                return image
    """)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output)
    data = record(output)
    assert [e["status"] for e in data["images"]] == ["ok", "failed", "ok", "ok"]
    assert "the model process died while restoring this image (it exited with code 3" in (
        data["images"][1]["error"])
    assert "last output: about to crash" in data["images"][1]["error"]
    assert data["worker_starts"] == 2 and done.returncode != 0


def test_chatty_model_output_is_capped(tmp_path, input_data):
    submission = write_submission(tmp_path, """
        import sys


        class Model:
            def __init__(self, weights_dir, device):
                print("loading weights", flush=True)

            def restore(self, image, person_mask):
                for i in range(3000):
                    print(f"debug line {i:05d} " + "x" * 40)
                sys.stderr.write("a warning on stderr\\n")
                return image
    """)
    output = tmp_path / "output"
    done = ingest(input_data, submission, output, "--quiet")
    assert done.returncode == 0, done.stderr
    assert "model| loading weights" in done.stderr
    assert len(done.stderr) < 100 * 1024  # the live part and the kept tail (prefixed), of 600 KB
    assert "the rest is not shown live" in done.stderr and "end of model output" in done.stderr
    kept = record(output)["model_output"]
    assert kept["bytes"] > 4 * 3000 * 50
    assert len(kept["head"]) <= 16 * 1024 and len(kept["tail"]) <= 16 * 1024
    assert kept["head"].startswith("loading weights") and "a warning on stderr" in kept["tail"]
    assert kept["omitted_bytes"] > 0
    json.dumps(kept)


# -- ingestion.json as the scoring program reads it -------------------------------------------------
def test_record_reader_ignores_foreign_or_broken_files(tmp_path):
    from aiflash.ingestion.record import read_ingestion

    assert read_ingestion(tmp_path) is None
    (tmp_path / "ingestion.json").write_text("{not json")
    assert read_ingestion(tmp_path) is None
    (tmp_path / "ingestion.json").write_text(json.dumps({"format": "someone-else/1", "images": []}))
    assert read_ingestion(tmp_path) is None


def test_record_reader_reports_unfinished_images(tmp_path):
    from aiflash.ingestion.record import RECORD_FORMAT, ingestion_sections, read_ingestion

    (tmp_path / "ingestion.json").write_text(json.dumps({
        "format": RECORD_FORMAT, "status": "running", "policy": "reject",
        "images": [{"image": "0001", "status": "ok", "error": None},
                   {"image": "0002", "status": "failed", "error": "restore() raised KeyError: 'x'."},
                   {"image": "0003", "status": "pending", "error": None}],
        "guard_findings": [{"function": "cv2.resize", "input_size": [8, 8], "output_size": [4, 4],
                            "channels": 3, "caller": "model.py:3", "image": "0002", "count": 1,
                            "direction": "downscale"}],
    }))
    summary = read_ingestion(tmp_path)
    assert summary.failed == {"0002": "restore() raised KeyError: 'x'",
                              "0003": "not finished: the ingestion program stopped before this image "
                                      "(see the prediction log)"}
    page = "".join(ingestion_sections(summary))
    assert "Model run (ingestion)" in page and "model.py:3" in page and "policy: reject" in page
