"""Participant code contained by the ingestion program itself: writes outside the allowed folders
and TCP connections fail inside the model with an OS error (Landlock), the run records which
protections were active, the same model runs unconfined when containment is switched off, and
no process of the run outlives it (subreaper), whichever way the run ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from aiflash.sandbox import landlock_abi

from .conftest import REPO
from .test_ingestion import ingest, make_input_data, record, write_submission

needs_landlock_net = pytest.mark.skipif(landlock_abi() < 4, reason="needs Landlock ABI >= 4 (Linux 6.7+)")

# Image n (in name order) tries hostile act n; __init__ checks the allowed folders stay writable.
HOSTILE = """
    import os
    import socket
    import tempfile


    class Model:
        def __init__(self, weights_dir, device):
            open(os.path.join(weights_dir, "cache.txt"), "w").write("own folder: allowed")
            with tempfile.NamedTemporaryFile() as handle:  # in the run's private TMPDIR
                handle.write(b"tmp: allowed")
            self.calls = 0

        def restore(self, image, person_mask):
            self.calls += 1
            if self.calls == 1:
                open(INPUT_PLANT, "w").write("planted in the input data")
            elif self.calls == 2:  # beside its folder; into the output (results go through the program)
                denied = []
                for target in (BESIDE, OUTPUT_FORGE):
                    try:
                        open(target, "w").write("not allowed")
                    except PermissionError as exc:
                        denied.append(exc)
                if denied:
                    raise denied[0]
            elif self.calls == 3:
                socket.create_connection(("127.0.0.1", PORT), timeout=10).close()
            elif self.calls == 4:
                os.kill(os.getppid(), 0)  # may it signal the ingestion program?
            return image
"""


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self):
        self.server.close()


@pytest.fixture(scope="module")
def outside():
    """A folder outside /tmp (which the model may write to), as /app/input_data and
    /app/ingested_program are on Codabench: pytest's tmp_path is under /tmp."""
    root = Path(tempfile.mkdtemp(prefix="aiflash-sandbox-test-", dir="/var/tmp"))
    assert not str(root.resolve()).startswith(("/tmp/", tempfile.gettempdir() + "/"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def input_data(outside):
    return make_input_data(outside / "input")


def hostile_submission(tmp_path: Path, outside: Path, input_data: Path, port: int) -> tuple[Path, Path, Path]:
    """The hostile model; the output folder is outside /tmp too (``output`` beside the submission)."""
    workdir = outside / tmp_path.name
    plant, beside = input_data / "input" / f"planted-{tmp_path.name}.txt", workdir / "beside.txt"
    forged = workdir / "output" / "metadata"  # Codabench's reserved name, in the output
    source = HOSTILE.replace("import tempfile\n", f"import tempfile\n    INPUT_PLANT = {str(plant)!r}\n"
                             f"    BESIDE = {str(beside)!r}\n    OUTPUT_FORGE = {str(forged)!r}\n"
                             f"    PORT = {port}\n", 1)
    return write_submission(workdir, source), plant, beside


@needs_landlock_net
def test_writes_outside_and_tcp_fail_inside_the_model_and_the_record_says_why(tmp_path, outside, input_data):
    listener = Listener()
    submission, plant, beside = hostile_submission(tmp_path, outside, input_data, listener.port)
    output = submission.parent.parent / "output"
    try:
        done = ingest(input_data, submission, output)
    finally:
        listener.close()
    assert done.returncode != 0
    data = record(output)
    errors = [e["error"] for e in data["images"]]
    assert errors[0].startswith("restore() raised PermissionError: [Errno 13] Permission denied: ")
    assert str(plant.name) in errors[0] and not plant.exists()
    assert errors[1].startswith("restore() raised PermissionError") and not beside.exists()
    assert not (output / "metadata").exists()
    # EPERM from seccomp at socket(); where seccomp is missing, EACCES from Landlock at connect()
    assert errors[2].startswith("restore() raised PermissionError: [Errno 1]") and listener.accepted == 0
    assert errors[3].startswith("restore() raised PermissionError: [Errno 1]")  # no signal outside
    assert (submission / "cache.txt").exists()  # its own folder and its TMPDIR stay writable
    sandbox = data["sandbox"]
    assert sandbox["confined"] and sandbox["filesystem"] and sandbox["network"] and sandbox["signals"]
    assert sandbox["landlock_abi"] >= 4 and str(submission.resolve()) in sandbox["writable"]
    assert not any(str(output.resolve()).startswith(folder) for folder in sandbox["writable"])
    assert "memory" in sandbox and sandbox["max_file_bytes"]
    assert "sandbox: writes only in" in done.stdout and "TCP connect/bind denied" in done.stdout
    assert "Traceback" not in done.stderr.splitlines()[-1]


@needs_landlock_net
def test_the_same_model_runs_unconfined_with_containment_off(tmp_path, outside, input_data):
    listener = Listener()
    submission, plant, beside = hostile_submission(tmp_path, outside, input_data, listener.port)
    output = submission.parent.parent / "output"
    try:
        done = ingest(input_data, submission, output, "--no-sandbox")
    finally:
        listener.close()
        plant.unlink(missing_ok=True)  # the input data is shared by this module's tests
    assert done.returncode == 0, done.stderr
    data = record(output)
    assert [e["status"] for e in data["images"]] == ["ok"] * 4
    assert beside.exists() and listener.accepted == 1
    assert not (output / "metadata").exists()  # written unconfined, removed before Codabench sees it
    assert any("file named 'metadata'" in note for note in data["notes"])
    assert data["sandbox"]["confined"] is False and not data["sandbox"]["filesystem"]
    assert "sandbox: off (--no-sandbox): the model ran unconfined" in done.stdout


@needs_landlock_net
def test_allow_network_opens_tcp_only(tmp_path, outside, input_data):
    listener = Listener()
    submission, plant, beside = hostile_submission(tmp_path, outside, input_data, listener.port)
    output = submission.parent.parent / "output"
    try:
        done = ingest(input_data, submission, output, "--allow-network")
    finally:
        listener.close()
    data = record(output)
    assert [e["status"] for e in data["images"]] == ["failed", "failed", "ok", "failed"]
    assert listener.accepted == 1 and not plant.exists() and not beside.exists()
    assert data["sandbox"]["filesystem"] and not data["sandbox"]["network"]
    assert "network open" in done.stdout


DAEMON = """
    import os
    import time


    def daemonise(pid_file):
        child = os.fork()
        if child == 0:  # first child: a new session, then the daemon itself, then gone
            os.setsid()
            if os.fork() == 0:
                open(pid_file, "w").write(f"{os.getppid()} {os.getpid()}")
                time.sleep(3600)
            os._exit(0)
        os.waitpid(child, 0)
        while not os.path.exists(pid_file):
            time.sleep(0.05)


    class Model:
        def __init__(self, weights_dir, device):
            open(WORKER_FILE, "w").write(str(os.getpid()))
            daemonise(PID_FILE)

        def restore(self, image, person_mask):
            if HANG:
                time.sleep(3600)
            return image
"""


def daemon_submission(tmp_path: Path, output: Path, hang: bool) -> Path:
    # The pid files go to the model's own folder (the working directory), where it may write.
    source = DAEMON.replace("import time\n", "import time\n    PID_FILE = 'daemon.pid'\n"
                            f"    WORKER_FILE = 'worker.pid'\n    HANG = {hang}\n", 1)
    output.mkdir()
    return write_submission(tmp_path, source)


def run_pids(submission: Path) -> list[int]:
    return [int((submission / "worker.pid").read_text())] + \
        [int(p) for p in (submission / "daemon.pid").read_text().split()]


def gone(pid: int, wait_s: float = 10.0) -> bool:
    """The process has ended (a zombie not yet collected by init counts as ended)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_double_forked_setsid_daemon_is_ended_with_the_run(tmp_path, input_data):
    output = tmp_path / "output"
    submission = daemon_submission(tmp_path, output, hang=False)
    done = ingest(input_data, submission, output)
    assert done.returncode == 0, done.stderr
    pids = run_pids(submission)
    assert all(gone(pid) for pid in pids), [(p, Path(f"/proc/{p}/status").read_text()[:200]) for p in pids]
    data = record(output)
    assert data["stray_processes_ended"] >= 1
    assert "ended 1 stray process(es)" in done.stdout


def test_sigterm_ends_the_model_and_its_daemon(tmp_path, input_data):
    """The organiser stops the run (SIGTERM, or a container stop): the record is written, the
    worker and the daemon it left are ended before ingestion.py exits."""
    output = tmp_path / "output"
    submission = daemon_submission(tmp_path, output, hang=True)
    process = subprocess.Popen(
        [sys.executable, "ingestion.py", "--input-dir", str(input_data), "--submission-dir", str(submission),
         "--output-dir", str(output)], cwd=REPO / "ingestion_program", stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (submission / "daemon.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the model is now inside restore(), hanging
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "Traceback" not in stderr, stderr
    pids = run_pids(submission)
    assert all(gone(pid) for pid in pids)
    data = record(output)
    assert data["stray_processes_ended"] >= 1 and data["status"] == "failed"


def test_subreaper_helpers_find_and_end_a_reparented_tree():
    """The library level: a grandchild orphaned by its parent is found below us and ended."""
    from aiflash.sandbox import become_subreaper, descendants, end_descendants

    script = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\nelse:\n"
              "    print(os.getpid(), flush=True)\n    time.sleep(600)\n")
    code = ("import os, subprocess, sys, time\n"
            "from aiflash.sandbox import become_subreaper, descendants, end_descendants\n"
            "assert become_subreaper()\n"
            f"p = subprocess.Popen([sys.executable, '-c', {script!r}], stdout=subprocess.PIPE)\n"
            "p.stdout.readline()\n"
            "time.sleep(0.5)\n"
            "p.kill(); p.wait()\n"  # the orphan is re-parented to this process now
            "orphans = descendants(os.getpid())\n"
            "print(len(orphans), end_descendants(), len(descendants(os.getpid())))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "0"]
    assert become_subreaper and descendants and end_descendants
    assert os.getpid()  # this test process itself was never made a subreaper


@pytest.mark.parametrize("hidden", [("landlock",), ("landlock", "pyseccomp")], ids=["landlock", "both"])
def test_without_landlock_the_run_goes_on_and_says_what_is_missing(outside, hidden):
    """Where Landlock is absent (here: its package hidden), confine() applies seccomp and the
    rlimits, raises nothing, and reports writes as not confined; with the seccomp binding hidden
    too, the network is reported open."""
    target = outside / f"unconfined-write-{len(hidden)}"
    code = (f"import json, sys\nfor name in {hidden!r}:\n    sys.modules[name] = None\n"
            "from pathlib import Path\nfrom aiflash.sandbox import SandboxPolicy, confine\n"
            "report = confine(SandboxPolicy(writable=(Path('/tmp'),)))\n"
            f"open({str(target)!r}, 'w').close()\n"
            "print(json.dumps(report.as_dict()))\nprint(report.summary())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    written = target.exists()  # outside /tmp: allowed only unconfined
    assert done.returncode == 0, done.stderr
    report_line, summary = done.stdout.strip().splitlines()
    report = json.loads(report_line)
    notes = " ".join(report["notes"])
    assert report["confined"] and report["landlock_abi"] == 0 and not report["abstract_unix"]
    assert not report["filesystem"] and not report["network"] and written
    assert report["max_file_bytes"] and "landlock package is not installed" in notes
    assert "writes NOT confined" in summary
    if hidden == ("landlock",):
        assert report["seccomp"] and report["sockets"] == "only AF_UNIX" and report["attach"]
        assert "sockets: only AF_UNIX (no UDP, DNS or raw)" in summary and "(no Landlock, seccomp)" in summary
    else:
        assert not report["seccomp"] and report["sockets"] == "any" and not report["attach"]
        assert "network open" in summary and "(no Landlock, no seccomp)" in summary
        assert "no seccomp filter: the pyseccomp package is not installed; UDP, DNS and raw" in notes


def test_socket_rules_deny_every_family_but_the_allowed_ones():
    """libseccomp takes one comparison per argument in a rule: each denied family below the last
    allowed one is its own rule, everything above it one more."""
    from aiflash.sandbox import family_rules

    assert family_rules([socket.AF_UNIX]) == [("EQ", 0), ("GT", 1)]
    rules = family_rules([socket.AF_NETLINK, socket.AF_UNIX])
    assert rules == [("EQ", 0)] + [("EQ", n) for n in range(2, 16)] + [("GT", 16)]


def test_gpu_policy_allows_netlink_but_no_network_family():
    """On GPU AF_NETLINK stays allowed (CUDA's libraries were not traced under the filter; netlink
    reaches only the kernel): in a confined process a netlink socket opens, an AF_INET6 one does
    not, and the report names both allowed families."""
    code = ("import json, socket\nfrom pathlib import Path\n"
            "from aiflash.sandbox import SandboxPolicy, confine\n"
            "report = confine(SandboxPolicy(writable=(Path('/tmp'),), gpu=True))\n"
            "socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE).close()\n"
            "try:\n    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n"
            "except OSError as exc:\n    print(json.dumps([report.sockets, exc.errno]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["only AF_UNIX, AF_NETLINK", 1]
