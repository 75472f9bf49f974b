"""A hostile corpus: what a malicious or careless participant (or a broken organiser file) sends.

Every case runs in a fresh process, exactly the code path the package uses, and asserts: the
outcome (refused with a one-line message naming the file, or accepted), no traceback, nothing
written outside the output folder, and the peak memory of that process (``os.wait4``). Bombs are
generated at test time by ``tests/hostile.py`` (a few MB on disk each).

Hostile models (``tests/hostile.py``) run through the real ingestion program (and ``aiflash
dry-run``, and the local reproduction runner) with the phase data under /tmp: UDP to a listener
this test starts, DNS, raw sockets and process memory fail inside the model; writes into the input
folder and straight into /tmp fail; its temporary files and caches land in a private scratch that
is gone after the run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from .conftest import REPO, SAMPLE
from .hostile import (
    SCRATCH_MODEL,
    UDP_CHUNK,
    bmp_header_bomb,
    forge_size,
    jpeg_bomb,
    make_zip,
    network_model,
    png_bomb,
    small_jpeg,
    zip_bomb,
)
from .test_bundle_helpers import built_bundle, run_cli, zip_tree
from .test_ingestion import STEMS as INPUT_STEMS
from .test_ingestion import ingest, make_input_data, record, write_submission

PEAK_RSS_LIMIT_MB = 600
STEMS = sorted(p.stem for p in (SAMPLE / "gt").iterdir())

# One operation of the package per kind of input, in a fresh interpreter: prints the outcome as
# JSON; an exception that is not one of ours shows as a traceback (and fails the test).
PROBE = r"""
import json, sys
from pathlib import Path
op, source, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
from aiflash.errors import AiflashError, ReferenceDataError, SubmissionError
refused = (AiflashError,)
try:
    if op == "result":
        from aiflash.images import read_rgb
        array, note = read_rgb(source)
        detail = f"{array.shape} {note}"
    elif op == "reference":
        from aiflash.images import read_rgb
        array, note = read_rgb(source, error=ReferenceDataError)
        detail = f"{array.shape} {note}"
    elif op == "mask":
        from aiflash.images import read_person_mask
        detail = str(read_person_mask(source).shape)
    elif op == "result-zip":
        from aiflash.archives import safe_extract
        written = safe_extract(source, out, must_hold="one <stem>.png per input image")
        detail = " ".join(sorted(p.relative_to(out).as_posix() for p in written))
    elif op == "team-zip":
        from aiflash.reproduce.submissions import SubmissionUnusable, TeamSubmission, stage
        refused = (AiflashError, SubmissionUnusable)
        stage(TeamSubmission("team", source), out)
        detail = " ".join(sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()))
    elif op == "worker-zip":
        from aiflash.bundle.worker import SubmissionFailed, unzip
        refused = (SubmissionFailed,)
        unzip(source, out)
        detail = "extracted"
    elif op == "bundle-zip":
        from aiflash.bundle.validate import validate_zip
        problems = validate_zip(source, out)
        zip_problems = [p.message for p in problems if p.rule in ("zip", "dataset-zip")]
        if zip_problems:
            raise AiflashError(zip_problems[0])
        detail = f"{len(problems)} problem(s)"
    elif op == "predictions":
        from aiflash.discovery import find_predictions
        detail = " ".join(sorted(find_predictions(source)))
    else:
        raise SystemExit(f"unknown op {op}")
    print(json.dumps({"outcome": "accepted", "detail": detail}))
except refused as exc:
    print(json.dumps({"outcome": "refused", "type": type(exc).__name__, "message": str(exc)}))
"""


# Linux copies a process's peak RSS into its child across fork + exec, so a child of this (large)
# test process would report at least this process's size: a small launcher starts the measured
# process and reports what os.wait4 says of it.
LAUNCHER = r"""
import json, os, subprocess, sys, time
start = time.monotonic()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
stdout, stderr = process.stdout.read(), process.stderr.read()
_, status, usage = os.wait4(process.pid, 0)
print(json.dumps({"returncode": os.waitstatus_to_exitcode(status), "stdout": stdout.decode(),
                  "stderr": stderr.decode(), "peak_rss_mb": usage.ru_maxrss / 1024,
                  "wall_s": time.monotonic() - start}))
"""


def measured(argv: list[str], cwd: Path) -> dict:
    """Run ``argv``: its exit code, output, peak RSS (MB, of that process alone) and wall time (s)."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def probe(op: str, source: Path, out: Path) -> dict:
    """Run PROBE; adds the child's peak RSS (MB) and wall time (s)."""
    run = measured([sys.executable, "-c", PROBE, op, str(source), str(out)], out.parent)
    assert run["returncode"] == 0 and "Traceback" not in run["stderr"], run["stderr"]
    result = json.loads(run["stdout"].strip().splitlines()[-1])
    result.update(peak_rss_mb=run["peak_rss_mb"], wall_s=run["wall_s"])
    return result


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def png_bytes(array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    return encoded.tobytes()


def photo(height: int = 48, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 4 % 256, y * 5 % 256, (x + y) % 256], -1).astype(np.uint8)


def palette_png() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(photo()).convert("P").save(buffer, format="PNG")
    return buffer.getvalue()


def cmyk_jpeg() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(photo()).convert("CMYK").save(buffer, format="JPEG")
    return buffer.getvalue()


def gif() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(photo()).save(buffer, format="GIF")
    return buffer.getvalue()


def webp() -> bytes:
    ok, encoded = cv2.imencode(".webp", photo())
    assert ok
    return encoded.tobytes()


def rgba_png(transparent: bool) -> bytes:
    bgra = np.dstack([photo(), np.full(photo().shape[:2], 255, np.uint8)])
    if transparent:
        bgra[0, 0, 3] = 0
    return png_bytes(bgra)


def png_with_ihdr(width: int, height: int) -> bytes:
    """A real small PNG whose IHDR is patched (CRC fixed) to declare another size."""
    import struct
    import zlib

    data = bytearray(png_bytes(photo()))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.write(png_bytes(photo()))
        handle.truncate(size)
    return path


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def sample_results_zip(path: Path) -> Path:
    """The sample results as a participant zips them (with macOS junk beside them)."""
    members = {p.name: p.read_bytes() for p in sorted((SAMPLE / "results").iterdir()) if p.is_file()}
    return make_zip(path, {**members, "__MACOSX/._0001.png": b"junk", ".DS_Store": b"junk"})


# (case id, probe op, builder(folder) -> hostile file, expected: "accepted" or a message fragment)
CASES = [
    # -- result images -------------------------------------------------------------------------
    ("png-bomb-30000", "result", lambda d: png_bomb(d / "0001.png"), "declares 30000x30000"),
    ("jpeg-bomb-30000", "result", lambda d: jpeg_bomb(d / "0001.jpg"), "declares 30000x30000"),
    ("bmp-bomb-30000", "result", lambda d: bmp_header_bomb(d / "0001.bmp"), "declares 30000x30000"),
    ("png-bomb-wide", "result", lambda d: write(d / "0001.png", png_with_ihdr(2**31 - 1, 1)),
     "declares 2147483647x1"),
    ("png-empty-ihdr", "result", lambda d: write(d / "0001.png", png_with_ihdr(0, 48)), "empty image"),
    ("jpeg-empty-sof", "result", lambda d: jpeg_bomb(d / "0001.jpg", 64, 0), "empty image"),
    ("huge-file", "result", lambda d: sparse_file(d / "0001.png", 300 << 20), "MiB, more than the 256"),
    ("zero-bytes", "result", lambda d: write(d / "0001.png", b""), "the file is empty"),
    ("text-as-png", "result", lambda d: write(d / "0001.png", b"hello, I am not an image\n"),
     "not a readable PNG, JPEG or BMP"),
    ("truncated-png", "result", lambda d: write(d / "0001.png", png_bytes(photo())[:200]),
     "cannot be decoded"),
    ("truncated-jpeg", "result", lambda d: write(d / "0001.jpg", small_jpeg()[:400]), "0001.jpg"),
    ("png-16bit", "result", lambda d: write(d / "0001.png", png_bytes(photo().astype(np.uint16) * 257)),
     "16-bit PNG"),
    ("png-grey", "result", lambda d: write(d / "0001.png", png_bytes(photo()[..., 0])), "greyscale PNG"),
    ("png-transparent", "result", lambda d: write(d / "0001.png", rgba_png(True)), "transparent pixel"),
    ("png-opaque-alpha", "result", lambda d: write(d / "0001.png", rgba_png(False)), "accepted"),
    ("png-palette", "result", lambda d: write(d / "0001.png", palette_png()), "accepted"),
    ("jpeg-cmyk", "result", lambda d: write(d / "0001.jpg", cmyk_jpeg()), "colour mode CMYK"),
    ("gif-as-png", "result", lambda d: write(d / "0001.png", gif()), "GIF file"),
    ("webp-as-png", "result", lambda d: write(d / "0001.png", webp()), "WEBP file"),
    # -- masks and reference images (organiser data: the full path is named) --------------------
    ("mask-png-bomb", "mask", lambda d: png_bomb(d / "0001.png"), "declares 30000x30000"),
    ("mask-bmp-bomb", "mask", lambda d: bmp_header_bomb(d / "0001.bmp"), "declares 30000x30000"),
    ("mask-empty", "mask", lambda d: write(d / "0001.png", b""), "the file is empty"),
    ("mask-garbage", "mask", lambda d: write(d / "0001.png", b"\x89PNG\r\n\x1a\n" + bytes(40)), "0001.png"),
    ("gt-jpeg-bomb", "reference", lambda d: jpeg_bomb(d / "0001.jpg"), "declares 30000x30000"),
    # -- result zips ---------------------------------------------------------------------------
    ("zip-bomb-2.5GiB", "result-zip", lambda d: zip_bomb(d / "results.zip"), "'0001.png' expands"),
    ("zip-many-small-bombs", "result-zip",
     lambda d: make_zip(d / "results.zip", {f"{i:04d}.png": bytes(1 << 20) for i in range(40)}), "expand"),
    ("zip-slip", "result-zip", lambda d: make_zip(d / "results.zip", {"../evil.png": b"x"}), "unsafe path"),
    ("zip-slip-backslash", "result-zip", lambda d: make_zip(d / "results.zip", {"..\\evil.png": b"x"}),
     "unsafe path"),
    ("zip-absolute", "result-zip", lambda d: make_zip(d / "results.zip", {"/tmp/aiflash-evil.png": b"x"}),
     "unsafe path"),
    ("zip-drive-letter", "result-zip", lambda d: make_zip(d / "results.zip", {"C:/evil.png": b"x"}),
     "unsafe path"),
    ("zip-symlink-to-gt", "result-zip",
     lambda d: make_zip(d / "results.zip", {"0002.png": b"x"}, links={"0001.png": str(SAMPLE / "gt")}),
     "'0001.png' is a symbolic link"),
    ("zip-encrypted", "result-zip",
     lambda d: make_zip(d / "results.zip", {"0001.png": b"x"}, encrypted=("0001.png",)), "encrypted"),
    ("zip-too-many-entries", "result-zip",
     lambda d: make_zip(d / "results.zip", {f"{i}.txt": b"" for i in range(20_001)},
                        compression=zipfile.ZIP_STORED), "20001 entries"),
    ("zip-forged-size", "result-zip",
     lambda d: forge_size(make_zip(d / "results.zip", {"0001.png": bytes(1 << 20)}), 1000), "'0001.png'"),
    ("zip-not-a-zip", "result-zip", lambda d: write(d / "results.zip", b"PK but not really"),
     "not a readable zip"),
    ("zip-empty", "result-zip", lambda d: make_zip(d / "results.zip", {}), "holds no files"),
    ("zip-only-folders", "result-zip", lambda d: make_zip(d / "results.zip", {"results/": b""}),
     "holds no files"),
    ("zip-honest-results", "result-zip", lambda d: sample_results_zip(d / "results.zip"), "accepted"),
    # -- folders of results scored locally ---------------------------------------------------------
    ("folder-symlink-to-gt", "predictions", lambda d: _linked_results(d), "is a symbolic link"),
    # -- organisers' tools -------------------------------------------------------------------------
    ("reproduce-zip-bomb", "team-zip", lambda d: zip_bomb(d / "team.zip", "weights.bin"), "expands"),
    ("reproduce-zip-slip", "team-zip", lambda d: make_zip(d / "team.zip", {"../../evil.py": b"x"}),
     "unsafe path"),
    ("reproduce-honest", "team-zip",
     lambda d: make_zip(d / "team.zip", {"model.py": b"class Model: pass\n", "__MACOSX/._model.py": b"j"}),
     "accepted"),
    ("worker-zip-bomb", "worker-zip", lambda d: zip_bomb(d / "submission.zip"), "Bad or empty zip file"),
    ("worker-zip-symlink", "worker-zip",
     lambda d: make_zip(d / "submission.zip", {}, links={"model.py": "/etc/passwd"}), "symbolic link"),
    ("bundle-zip-bomb", "bundle-zip", lambda d: zip_bomb(d / "bundle.zip", "competition.yaml"), "bundle.zip"),
    ("bundle-dataset-bomb", "bundle-zip", lambda d: _bundle_with_bomb(d), "scoring_program.zip: entry"),
    ("bundle-zip-slip", "bundle-zip", lambda d: make_zip(d / "bundle.zip", {"../competition.yaml": b"x"}),
     "unsafe path"),
]


def _bundle_with_bomb(folder: Path) -> Path:
    """A bundle whose scoring program zip holds a 2.5 GiB metadata.yaml (the validator reads it)."""
    bomb = zip_bomb(folder / "scoring_program.zip", "metadata.yaml")
    competition = b"title: x\ntasks:\n- index: 0\n  name: t\n  scoring_program: scoring_program.zip\n"
    bundle = make_zip(folder / "bundle.zip", {"competition.yaml": competition, bomb.name: bomb.read_bytes()},
                      compression=zipfile.ZIP_STORED)
    bomb.unlink()
    return bundle


def _linked_results(folder: Path) -> Path:
    results = folder / "results"
    results.mkdir()
    for stem in STEMS:
        gt = next((SAMPLE / "gt").glob(f"{stem}.*"))
        (results / f"{stem}.png").symlink_to(gt)  # a "perfect" result: the ground truth itself
    return results


@pytest.mark.parametrize("case, op, build, expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(tmp_path, case, op, build, expected):
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = build(inputs)
    out = tmp_path / "out"
    before = files_under(tmp_path)
    result = probe(op, source, out)
    print(f"{case}: {result['outcome']} in {result['wall_s']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB")
    if expected == "accepted":
        assert result["outcome"] == "accepted", result
    else:
        assert result["outcome"] == "refused", result
        message = result["message"]
        assert expected in message, message
        named = "scoring_program.zip" if case == "bundle-dataset-bomb" else source.name
        assert named in message, message  # names the file
        assert "\n" not in message and "object at 0x" not in message, message
        if op in ("result", "reference", "mask"):
            assert "declares 30000" not in expected or "refused before decoding" in message
    assert result["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB, result
    written = files_under(tmp_path) - before
    assert all(out in p.parents for p in written), sorted(written)  # nothing outside the output
    assert not (tmp_path / "evil.png").exists() and not Path("/tmp/aiflash-evil.png").exists()
    assert not (tmp_path.parent / "evil.py").exists()
    if result["outcome"] == "refused" and op.endswith("zip"):
        # refused before extracting: nothing larger than the zip itself was written
        assert not any(p.stat().st_size > source.stat().st_size for p in written)


def test_bombs_are_refused_by_name_fast_and_small(tmp_path):
    """Must show: PNG/JPEG bombs declaring 30000x30000 and a zip expanding to 2.5 GiB, refused by
    name by a process whose peak RSS stays <= 600 MB, within 5 s (printed; the bound is generous
    for a loaded machine), and the bombs take little disk."""
    out = tmp_path / "out"
    bombs = [("result", png_bomb(tmp_path / "0001.png")), ("result", jpeg_bomb(tmp_path / "0002.jpg")),
             ("result-zip", zip_bomb(tmp_path / "results.zip"))]
    for op, bomb in bombs:
        assert bomb.stat().st_size < 5 << 20  # cheap to make
        result = probe(op, bomb, out)
        print(f"{bomb.name}: refused={result['outcome'] == 'refused'} in {result['wall_s']:.2f} s, "
              f"peak RSS {result['peak_rss_mb']:.0f} MB: {result.get('message')}")
        assert result["outcome"] == "refused" and bomb.name in result["message"]
        assert result["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB
        assert result["wall_s"] < 5.0
    assert zipfile.ZipFile(bombs[2][1]).infolist()[0].file_size >= 2 << 30
    assert not out.exists() or not any(out.iterdir())


def test_dry_run_refuses_a_zip_bomb_by_name(tmp_path):
    """The participant's tool end to end: one line naming the zip and the entry, no traceback."""
    bomb = zip_bomb(tmp_path / "results.zip")
    run = measured([sys.executable, "-m", "aiflash", "dry-run", str(bomb), "--phase", "1"], REPO)
    print(f"dry-run refused the bomb in {run['wall_s']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB")
    assert run["returncode"] == 2, run["stdout"] + run["stderr"]
    (line,) = run["stderr"].strip().splitlines()
    assert line.startswith("error: results.zip: entry '0001.png' expands"), line
    assert run["peak_rss_mb"] <= PEAK_RSS_LIMIT_MB


def test_exif_rotated_result_says_why_its_size_is_wrong(tmp_path):
    """A JPEG stored at the right size whose EXIF orientation turns it: the message says so."""
    from aiflash.discovery import ImageCase
    from aiflash.errors import SubmissionError
    from aiflash.scoring import load_case

    gt_path = next((SAMPLE / "gt").iterdir())
    mask_path = next((SAMPLE / "mask_personmask").glob(f"{gt_path.stem}.*"))
    gt = cv2.imread(str(gt_path))
    height, width = gt.shape[:2]
    data = bytearray(small_jpeg(orientation=6))
    ok, encoded = cv2.imencode(".jpg", gt, [cv2.IMWRITE_JPEG_QUALITY, 98])
    exif_end = data.index(b"\xff\xd8", 2) if b"\xff\xd8" in data[2:] else None
    assert exif_end is None
    app1_length = int.from_bytes(data[4:6], "big")
    rotated = encoded.tobytes()[:2] + bytes(data[2: 4 + app1_length]) + encoded.tobytes()[2:]
    result = write(tmp_path / f"{gt_path.stem}.jpg", rotated)
    with pytest.raises(SubmissionError) as caught:
        load_case(ImageCase(gt_path.stem, gt_path, mask_path, result))
    message = str(caught.value)
    assert f"stored as {width}x{height} (WxH) but its EXIF orientation tag (6" in message, message
    assert result.name in message and "save it without the orientation tag" in message


def test_hostile_but_valid_zip_is_scored_like_the_clean_results(tmp_path):
    """Accepted with the correct score: results in a wrapping folder, macOS junk, our own record
    names and a JPEG twin elsewhere, extracted by the checked extractor and scored by score.py;
    the Score equals the published scorer's on the clean folder."""
    sys.path.insert(0, str(REPO / "tools"))
    import published_scorer as published

    from aiflash.archives import safe_extract

    members = {f"results/{p.name}": p.read_bytes() for p in sorted((SAMPLE / "results").iterdir())}
    members.update({"__MACOSX/results/._0001.png": b"junk", "results/.DS_Store": b"junk",
                    "results/metadata.json": b"{}", "results/Thumbs.db": b"x"})
    archive = make_zip(tmp_path / "results.zip", members)
    res = tmp_path / "res"
    safe_extract(archive, res)
    done = subprocess.run([sys.executable, "score.py", "--reference-dir", str(SAMPLE), "--prediction-dir",
                           str(res), "--output-dir", str(tmp_path / "scores")],
                          cwd=REPO / "scoring_program", capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    scores = json.loads((tmp_path / "scores" / "scores.json").read_text())
    want = published.score_folder(SAMPLE, SAMPLE / "results")
    assert scores["Score"] == pytest.approx(want["Score"], abs=1e-3)


def test_symlinked_results_are_refused_by_the_scorer_by_name(tmp_path):
    """A local scoring of a folder whose results link to the ground truth: one line, no score."""
    results = _linked_results(tmp_path)
    done = subprocess.run([sys.executable, "score.py", "--reference-dir", str(SAMPLE), "--prediction-dir",
                           str(results), "--output-dir", str(tmp_path / "scores")],
                          cwd=REPO / "scoring_program", capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: 0001.png: is a symbolic link") and "Traceback" not in done.stderr, line
    assert not (tmp_path / "scores" / "scores.json").exists()


# -- hostile models ------------------------------------------------------------------------------
class UdpListener:
    """A UDP socket on 127.0.0.1 that keeps every datagram it receives."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port = self.socket.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.socket.recv(1 << 16))
            except TimeoutError:
                continue

    def received(self, expected: int = 0, wait_s: float = 10.0) -> list[bytes]:
        """Stop listening after ``expected`` datagrams, or at most ``wait_s`` seconds (the model's
        process has ended: anything it sent over the loopback is already queued)."""
        deadline = time.monotonic() + (wait_s if expected else 1.0)
        while len(self.datagrams) < max(expected, 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._thread.join()
        self.socket.close()
        return self.datagrams


@pytest.fixture(scope="module")
def tmp_input_data(tmp_path_factory):
    """A phase's inputs under /tmp, as on a participant's or an organiser's machine."""
    root = make_input_data(tmp_path_factory.mktemp("phase-data"))
    assert str(root).startswith("/tmp/")
    return root


def _network_run(tmp_path: Path, input_data: Path, *extra: str, env: dict | None = None):
    listener = UdpListener()
    submission = write_submission(tmp_path, network_model(listener.port))
    try:
        # no probe: its extra calls on copies of the inputs would send datagrams of their own
        done = ingest(input_data, submission, tmp_path / "output", "--probe-images", "0", *extra, env=env)
    finally:
        datagrams = listener.received(3 if extra or env else 0)
    data = record(tmp_path / "output")
    return done, data, [e["error"] for e in data["images"]], datagrams


def _first_bytes(input_data: Path) -> bytes:
    from aiflash.images import read_rgb

    return read_rgb(next((input_data / "input").glob(f"{INPUT_STEMS[0]}.*")))[0].tobytes()[:UDP_CHUNK]


def test_udp_dns_raw_sockets_and_process_memory_fail_inside_the_model(tmp_path, tmp_input_data):
    done, data, errors, datagrams = _network_run(tmp_path, tmp_input_data)
    udp, dns, packet, attach = errors
    assert udp.startswith("restore() raised PermissionError: [Errno 1] Operation not permitted"), udp
    assert datagrams == []  # nothing reached the listener
    # glibc's resolver cannot open its UDP socket: an immediate failure, not a time-out
    assert dns.startswith("restore() raised socket.gaierror: [Errno -3] Temporary failure in name "
                          "resolution"), dns
    assert packet.startswith("restore() raised PermissionError: [Errno 1]"), packet
    assert attach.startswith("restore() raised PermissionError: [Errno 1]"), attach
    sandbox = data["sandbox"]
    assert sandbox["seccomp"] and sandbox["sockets"] == "only AF_UNIX" and sandbox["attach"]
    assert sandbox["network"] and sandbox["filesystem"]
    assert sandbox["abstract_unix"] == (sandbox["landlock_abi"] >= 6)
    assert "sockets: only AF_UNIX (no UDP, DNS or raw), TCP connect/bind denied" in done.stdout
    assert "no ptrace, process_vm or io_uring" in done.stdout


def test_allow_network_lets_the_datagrams_out_and_says_so(tmp_path, tmp_input_data):
    done, data, errors, datagrams = _network_run(tmp_path, tmp_input_data, "--allow-network")
    assert errors[0] is None and len(datagrams) == 3 and datagrams[0] == _first_bytes(tmp_input_data)
    assert errors[3].startswith("restore() raised PermissionError: [Errno 1]")  # attaching stays denied
    if os.geteuid() == 0:  # root holds NET_RAW: only the filter stood in the way
        assert errors[2] is None
    sandbox = data["sandbox"]
    assert sandbox["seccomp"] and sandbox["sockets"] == "any" and not sandbox["network"]
    assert "network allowed by the organisers (--allow-network)" in sandbox["notes"]
    assert "network open" in done.stdout


def test_without_the_seccomp_binding_the_run_goes_on_and_says_what_is_open(tmp_path, tmp_input_data):
    """pyseccomp made unimportable in the ingestion program's processes (a sitecustomize on
    PYTHONPATH): the model runs, its datagrams get out, and the record and the log say so."""
    blocker = tmp_path / "no-seccomp"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['pyseccomp'] = None\n")
    path = os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": path}
    done, data, errors, datagrams = _network_run(tmp_path, tmp_input_data, env=environment)
    assert errors[0] is None and len(datagrams) == 3
    sandbox = data["sandbox"]
    assert not sandbox["seccomp"] and sandbox["sockets"] == "any" and not sandbox["attach"]
    assert sandbox["filesystem"] and sandbox["network"]  # Landlock still holds
    note = ("no seccomp filter: the pyseccomp package is not installed; UDP, DNS and raw sockets, "
            "ptrace and io_uring are open to the model")
    assert note in sandbox["notes"] and note in done.stdout
    assert "TCP connect/bind denied, but UDP, DNS and raw sockets open" in done.stdout
    assert "no seccomp)" in done.stdout


def _check_scratch_report(report: dict, input_folder: Path) -> None:
    """The model's caches and temporary files were in a private scratch, now gone; /tmp denied."""
    scratch = Path(report["tmpdir"]).parent
    assert report["input_folder"] == str(input_folder)
    for name in ("tempfile", "torch_hub", "xdg_cache", "home"):
        assert report[name].startswith(f"ok {scratch}/"), (name, report[name])
    assert report["torch_workers"] == "ok 28.0"
    assert report["tmp_root"].startswith("PermissionError: [Errno 13] Permission denied: '/tmp/aiflash-probe")
    assert not scratch.exists()  # removed at the end of the run


def _planted_error(error: str) -> None:
    assert error.startswith("restore() raised PermissionError: [Errno 13] Permission denied: "), error
    assert "planted.txt" in error


def test_the_model_cannot_write_into_phase_data_under_tmp(tmp_path, tmp_input_data):
    submission = write_submission(tmp_path, SCRATCH_MODEL)
    done = ingest(tmp_input_data, submission, tmp_path / "output")
    data = record(tmp_path / "output")
    _planted_error(data["images"][0]["error"])
    assert [e["status"] for e in data["images"]] == ["failed", "ok", "ok", "ok"], done.stdout
    assert not (tmp_input_data / "input" / "planted.txt").exists()
    _check_scratch_report(json.loads((submission / "report.json").read_text()), tmp_input_data / "input")
    assert not any(Path("/tmp").glob("aiflash-probe-*"))


def _scratch_submission(folder: Path) -> Path:
    import textwrap

    folder.mkdir()
    (folder / "model.py").write_text(textwrap.dedent(SCRATCH_MODEL))
    (folder / "metadata").write_text("description: writes where it should not\n")
    return folder


def test_dry_run_model_cannot_write_into_phase_data_under_tmp(tmp_path, tmp_input_data):
    data = tmp_path / "data"
    shutil.copytree(tmp_input_data, data)
    archive = zip_tree(_scratch_submission(tmp_path / "team"), tmp_path / "team.zip")
    result = run_cli("dry-run", archive, "--phase", "3", "--data", data)
    assert result.returncode == 1, result.stdout + result.stderr
    (problem,) = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM: ")]
    assert "1 of 4 image(s) failed in the model run: 0001: " in problem, problem  # the others ran
    _planted_error(problem.split("0001: ", 1)[1])
    assert not (data / "input" / "planted.txt").exists()


def test_local_reproduction_model_cannot_write_into_phase_data_under_tmp(tmp_path):
    from aiflash.cli import main

    data = tmp_path / "final_data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("results"))
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    _scratch_submission(submissions / "intruder")
    out = tmp_path / "out"
    main(["reproduce", "--runner", "local", "--gpus", "none", "--submissions", str(submissions),
          "--data", str(data), "--output-dir", str(out), "--bundle", str(built_bundle())])
    team = out / "teams" / "intruder"
    images = record(team / "predictions")["images"]
    _planted_error(images[0]["error"])
    assert [e["status"] for e in images] == ["failed", "ok", "ok", "ok"]
    assert not (data / "input" / "planted.txt").exists()
    report = json.loads((team / "submission" / "report.json").read_text())
    assert Path(report["input_folder"]).resolve() == (data / "input").resolve()
    _check_scratch_report(report, Path(report["input_folder"]))
