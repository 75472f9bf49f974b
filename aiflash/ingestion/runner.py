"""Ingestion: run a code submission on a phase's inputs, within time limits, behind the guard.

Process model: the participant's model runs in a child process (``worker.py``, a fresh
interpreter) that imports it once and then restores images on request. This process never runs
participant code: it sends one request per image and waits at most the per-image time limit (or
what is left of the total time budget). A model that overruns is located (its stack is dumped),
killed with its whole process group, and the image reported; if budget remains a new worker is
started for the remaining images. So a hang, even inside a C call, ends as a reported failure
within the limits instead of as the platform's kill, which uploads nothing (Codabench spec §2.7).

Results are written as ``<stem>.png`` (lossless) into the output folder, with ``ingestion.json``
(never ``metadata``: Codabench reserves that name), rewritten after every image. Every result is
also screened by the content check (``aiflash.forensics``) in the thread that writes its PNG, while
the model restores the next image. A few images, chosen at random, are also restored with strong
probe patterns added and subtracted (``aiflash.probe``): those outputs are never written or scored;
they measure whether the model responds to detail a reduced resolution cannot carry, and the
probe's verdict applies to every image. Each image's ``rescale_verdict`` is the worst of the
audit's verdict, the content check's and the probe's.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..discovery import INPUT_DIR, MASK_DIR, find_code_root, find_inputs, find_predictions
from ..errors import AiflashError, ModelError, ReferenceDataError
from ..forensics import CLEAN, FLAGGED, VERDICTS, ForensicsSettings, Screening, screen, worst_verdict
from ..images import read_person_mask, read_rgb, write_png
from ..probe import ProbeMeasurement, ProbeSettings, choose_images, judge, measure, plan_probe, probe_inputs
from ..sandbox import (
    become_subreaper,
    default_writable,
    descendants,
    end_descendants,
    scratch_environment,
    terminate_as_exit,
)
from .api import FOLDER, MODEL_FILE, PER_IMAGE
from .audit import ROUND_TRIP, Observation, classify
from .capture import ModelOutput
from .guard import DEFAULT_POLICY, POLICIES, audit_verdict, rejection
from .record import INGESTION_FILE, RECORD_FORMAT, write_record

# Defaults sized for the final phase (100 images at 1K on one GPU) under an execution_time_limit
# of 3600 s: the budget leaves 5 minutes for container start-up, zipping and uploading.
DEFAULT_IMAGE_TIME_LIMIT_S = 60.0
DEFAULT_LOAD_TIME_LIMIT_S = 600.0
DEFAULT_TIME_BUDGET_S = 3300.0
# After this many hangs or crashes in a row the model is not restarted again.
MAX_CONSECUTIVE_LOSSES = 3
_STOP_GRACE_S = 5.0
_SAVE_EVERY_S = 1.0  # ingestion.json is rewritten as the run goes (progress, and a partial record)
# PNG encoding (the largest cost around a fast model) runs in threads of this process while the
# worker restores the next image; at most this many results wait to be written.
_PENDING_WRITES = 2
_STACK_WAIT_S = 1.0


@dataclass(frozen=True)
class IngestionConfig:
    input_dir: Path  # holds input/ and mask_personmask/
    submission_dir: Path  # the unzipped code submission (model.py at its root)
    output_dir: Path
    device: str | None = None  # None: CUDA if available, else CPU
    policy: str = DEFAULT_POLICY
    image_time_limit_s: float = DEFAULT_IMAGE_TIME_LIMIT_S
    load_time_limit_s: float = DEFAULT_LOAD_TIME_LIMIT_S
    time_budget_s: float = DEFAULT_TIME_BUDGET_S
    allow_network: bool = False  # True: sockets of every family (TCP, UDP, DNS) open to the model
    sandbox: bool = True  # False: the model runs unconfined (--no-sandbox)
    progress: bool = False  # a progress bar (on a terminal)
    verbose: bool = True  # one line per image (logs)
    forensics: ForensicsSettings | None = None  # None: the default profile's content-check settings
    probe: ProbeSettings | None = None  # None: the default profile's probe settings
    probe_seed: int | None = None  # None: a fresh secret seed per run (tests and calibration fix it)

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {self.policy!r}")
        for name in ("image_time_limit_s", "load_time_limit_s", "time_budget_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class IngestionOutcome:
    """What happened: ``ran`` is False for a result submission (no model.py: nothing done)."""

    ran: bool
    record: dict = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # stem -> error

    def failure_line(self) -> str:
        """One line for stderr: how many failed, the first few with their errors, where to look."""
        total = len(self.record.get("images", []))
        (first, error), *others = self.failed.items()
        also = ""
        if others:
            names = [stem for stem, _ in others]
            also = f"; also failed: {', '.join(names[:5])}{', ...' if len(names) > 5 else ''}"
        return (f"{len(self.failed)} of {total} image(s) failed in the model run: {first}: "
                f"{error.rstrip('.')}{also} (details in {INGESTION_FILE} and the log above).")


class _WorkerDied(Exception):
    """The worker process ended (crash, os._exit, killed by the system)."""


class _WorkerProcess:
    """One worker: started, asked, located, killed. Messages are JSON over a socket pair."""

    def __init__(self, config: IngestionConfig, code_root: Path, scratch: Path, output: ModelOutput,
                 index: int):
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        self.stack_dump = scratch / f"worker-{index}-stack.txt"
        package_parent = Path(__file__).resolve().parents[2]
        command = [sys.executable, "-m", "aiflash.ingestion.worker",
                   "--submission-dir", str(code_root), "--control-fd", str(child_end.fileno()),
                   "--stack-dump", str(self.stack_dump), "--policy", config.policy,
                   "--parent-pid", str(os.getpid())]
        if config.device:
            command += ["--device", config.device]
        command += sandbox_arguments(config, code_root, scratch)
        private = scratch_environment(scratch) if config.sandbox else {}  # over the caller's: see there
        env = {**os.environ, **private, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, cwd=package_parent, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, pass_fds=(child_end.fileno(),), start_new_session=True)
        child_end.close()
        self._conn = parent_end
        self._code_root = code_root
        output.attach(self.process.stdout)

    def ask(self, message: dict, timeout: float) -> dict | None:
        """Send a request and wait for the reply; None on timeout; _WorkerDied if it ended."""
        try:
            self._conn.send_bytes(json.dumps(message).encode())
        except OSError as exc:
            raise _WorkerDied(self.exit_description()) from exc
        return self.receive(timeout)

    def receive(self, timeout: float) -> dict | None:
        """The next reply (a restored image as ``reply["pixels"]``), None on timeout."""
        try:
            if not self._conn.poll(max(timeout, 0.0)):
                return None
            data = self._conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise _WorkerDied(self.exit_description()) from exc
        end = data.index(b"\n")
        reply = json.loads(data[:end])
        if "shape" in reply:
            reply["pixels"] = np.frombuffer(data, np.uint8, offset=end + 1).reshape(reply.pop("shape"))
        return reply

    def exit_description(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it closed its connection"
        if code < 0:
            name = signal.Signals(-code).name
            hint = ": probably out of memory (RAM)" if -code == signal.SIGKILL else ""
            return f"killed by {name}{hint}"
        return f"it exited with code {code} (did the model call os._exit() or crash?)"

    def where(self) -> str | None:
        """Where the participant's code is now, from a stack dump: ``model.py:7 in restore``."""
        try:
            os.kill(self.process.pid, signal.SIGUSR1)
        except ProcessLookupError:
            return None
        deadline = time.monotonic() + _STACK_WAIT_S
        text = ""
        while not text and time.monotonic() < deadline:
            time.sleep(0.05)
            text = self.stack_dump.read_text(errors="replace") if self.stack_dump.exists() else ""
        time.sleep(0.05)  # faulthandler writes the whole dump at once; let it land
        text = self.stack_dump.read_text(errors="replace") if self.stack_dump.exists() else text
        root = str(self._code_root)
        for path, line, function in re.findall(r'File "([^"]+)", line (\d+) in (\S+)', text):
            if path.startswith(root + os.sep):
                return f"{os.path.relpath(path, root)}:{line} in {function}"
        return None

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self._conn.close()

    def stop(self) -> None:
        """Ask politely, then kill whatever is left of its process group."""
        try:
            self._conn.send_bytes(json.dumps({"op": "stop"}).encode())
            self.process.wait(timeout=_STOP_GRACE_S)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class _Run:
    """The state of one ingestion run; ``record()`` is what ingestion.json holds."""

    def __init__(self, config: IngestionConfig, code_root: Path, inputs: dict[str, tuple[Path, Path]],
                 scratch: Path):
        self.config = config
        self.code_root = code_root
        self.inputs = inputs
        self.scratch = scratch
        self.started = time.monotonic()
        self.deadline = self.started + config.time_budget_s
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.output = ModelOutput(sys.stderr)
        self.images = {stem: {"image": stem, "status": "pending", "error": None, "model_s": None,
                              "wall_s": None, "peak_gpu_memory_mb": None, "findings": 0, "details": None,
                              "rescale_verdict": None, "audit_verdict": None, "content_verdict": None,
                              "measures": {}, "reasons": [], "content_check_s": None,
                              "probe_verdict": None}
                       for stem in inputs}
        self.findings: list[dict] = []
        # Findings that belong to no single image (tampering at load, the folder API's calls):
        # their verdict applies to every image.
        self.shared_verdict = CLEAN
        self.forensics = config.forensics or _default_profile().forensics
        self.probe = _ProbeState(config.probe or _default_profile().probe, config.probe_seed, list(inputs))
        self.notes: list[str] = []
        self.environment: dict = {}
        self.sandbox: dict | None = None  # what the worker reported active
        self.strays_ended = 0
        self.spare: set[int] = set()  # processes the caller had before the run: never ended here
        self.api: str | None = None
        self.load_s: list[float] = []
        self.ready_s: list[float] = []
        self.load_error: str | None = None
        self.load_details: str | None = None
        self.folder_model_s: float | None = None
        self.workers = 0
        self.status = "running"
        self._bar = None
        self._writer = ThreadPoolExecutor(max_workers=_PENDING_WRITES, thread_name_prefix="png")
        self._writes: dict[str, tuple[Future, dict]] = {}
        self._saved = 0.0
        self._started_workers: list[_WorkerProcess] = []

    # -- record ----------------------------------------------------------------------------------
    def record(self) -> dict:
        images = list(self.images.values())
        model_times = [e["model_s"] for e in images if e["status"] == "ok" and e["model_s"] is not None]
        peaks = [e["peak_gpu_memory_mb"] for e in images if e["peak_gpu_memory_mb"] is not None]
        limits = self.config
        return {
            "format": RECORD_FORMAT,
            "status": self.status,
            "api": self.api,
            "policy": self.config.policy,
            "limits": {"image_time_limit_s": limits.image_time_limit_s,
                       "load_time_limit_s": limits.load_time_limit_s,
                       "time_budget_s": limits.time_budget_s},
            "environment": self.environment,
            "sandbox": self.sandbox,
            "stray_processes_ended": self.strays_ended,
            "started_at": self.started_at,
            "total_s": round(time.monotonic() - self.started, 3),
            "load_s": self.load_s,
            "worker_ready_s": self.ready_s,
            "worker_starts": self.workers,
            "load_error": self.load_error,
            "load_details": self.load_details,
            "images_total": len(images),
            "images_ok": sum(e["status"] == "ok" for e in images),
            "images_failed": sum(e["status"] in ("failed", "not_run") for e in images),
            "mean_model_s": round(sum(model_times) / len(model_times), 4) if model_times else None,
            "folder_model_s": self.folder_model_s,
            "peak_gpu_memory_mb": max(peaks) if peaks else None,
            "images": images,
            "rescale_verdicts": {v: sum(e["rescale_verdict"] == v for e in images) for v in VERDICTS},
            "forensics": self.forensics.as_record(),
            "probe": self.probe.record(),
            "guard_findings": self.findings,
            "model_output": self.output.summary(),
            "notes": self.notes,
        }

    def save(self, force: bool = True) -> None:
        """Rewrite ingestion.json (at most every _SAVE_EVERY_S seconds unless ``force``)."""
        now = time.monotonic()
        if force or now - self._saved >= _SAVE_EVERY_S:
            write_record(self.config.output_dir, self.record())
            self._saved = now

    # -- outcomes of single images ----------------------------------------------------------------
    def _finish(self, stem: str, status: str, error: str | None = None, screening: Screening | None = None,
                **values) -> None:
        entry = self.images[stem]
        entry.update(status=status, error=error, **values)
        entry["audit_verdict"] = worst_verdict(entry["audit_verdict"] or CLEAN, self.shared_verdict)
        if screening is not None:
            entry.update(content_verdict=screening.verdict, measures=dict(screening.measures),
                         reasons=list(screening.reasons))
        entry["rescale_verdict"] = worst_verdict(entry["audit_verdict"], entry["content_verdict"] or CLEAN)
        if status != "ok":
            (self.config.output_dir / f"{stem}.png").unlink(missing_ok=True)
        if self._bar is not None:
            self._bar.update(1)
        if self.config.verbose:
            done = sum(e["status"] in ("ok", "failed", "not_run") for e in self.images.values())
            timing = f" in {entry['model_s']:.2f} s" if entry.get("model_s") is not None else ""
            state = f"ok{timing}" if status == "ok" else f"FAILED: {error}"
            if entry["rescale_verdict"] != CLEAN:
                state += f" [rescaling: {entry['rescale_verdict']}]"
            print(f"[{done}/{len(self.images)}] {stem}: {state}", flush=True)
        self.save(force=False)

    def _pending(self) -> list[str]:
        return [stem for stem, entry in self.images.items() if entry["status"] == "pending"]

    def _fail_pending(self, error: str, status: str = "failed") -> None:
        for stem in self._pending():
            self._finish(stem, status, error)

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    # -- workers ---------------------------------------------------------------------------------
    def _start_worker(self) -> _WorkerProcess | None:
        """A worker with the model loaded, or None (the reason in self.load_error)."""
        if self.workers:  # a restart: daemons the last worker left must not run beside the next one
            self.strays_ended += end_descendants(self.spare)
        limit = min(self.config.load_time_limit_s, self._remaining())
        if limit <= 0:
            self.load_error = (f"not run: the total time budget of {self.config.time_budget_s:g} s was "
                               f"used up")
            return None
        self.workers += 1
        if self.config.verbose and self.workers > 1:
            print(f"Restarting the model (start {self.workers}) for the remaining images.", flush=True)
        spawned = time.monotonic()
        worker = _WorkerProcess(self.config, self.code_root, self.scratch, self.output, self.workers)
        self._started_workers.append(worker)
        try:
            reply = worker.receive(limit)
        except _WorkerDied as died:
            last = self.output.last_line()
            self.load_error = (f"the model process died while loading model.py ({died})"
                               + (f"; last output: {last}" if last else ""))
            worker.kill()
            return None
        if reply is None:
            where = worker.where()
            worker.kill()
            budget = limit < self.config.load_time_limit_s
            self.load_error = (
                f"loading the model (importing model.py and building it) was stopped after {limit:.0f} s"
                + (f", at {where}" if where else "")
                + (": the total time budget was used up" if budget else
                   f": it must take less than {self.config.load_time_limit_s:g} s")
            )
            return None
        self.environment = reply.get("environment") or self.environment
        self._add_shared_findings(reply.get("findings") or [])
        self.sandbox = self.environment.pop("sandbox", None) or self.sandbox
        if reply["op"] == "load_failed":
            self.load_error, self.load_details = reply["error"], reply.get("details")
            worker.stop()
            return None
        self.api = reply["api"]
        self.load_s.append(reply["load_s"])
        self.ready_s.append(round(time.monotonic() - spawned, 3))
        return worker

    # -- the two APIs ----------------------------------------------------------------------------
    def execute(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=len(self.images), desc="ingestion", unit="img", file=sys.stderr,
                         disable=not self.config.progress, leave=False)
        try:
            worker = self._start_worker()
            if worker is None:
                self._fail_pending(f"the model could not be loaded: {self.load_error}")
                return
            if self.api == FOLDER:
                self._run_folder(worker)
            else:
                self._run_per_image(worker)
        finally:
            self._bar.close()

    def _run_per_image(self, worker: _WorkerProcess | None) -> None:
        losses = 0
        config = self.config
        for stem in list(self.inputs):
            if worker is None:
                if losses >= MAX_CONSECUTIVE_LOSSES:
                    self._fail_pending(f"not run: the model hung or crashed on {losses} images in a row, "
                                       f"so it was not restarted again", "not_run")
                    return
                worker = self._start_worker()
                if worker is None:
                    self._fail_pending(f"not run: restarting the model failed: {self.load_error}", "not_run")
                    return
            remaining = self._remaining()
            if remaining <= 0:
                self._fail_pending(f"not run: the total time budget of {config.time_budget_s:g} s was "
                                   f"used up", "not_run")
                break
            limit = min(config.image_time_limit_s, remaining)
            input_path, mask_path = self.inputs[stem]
            request = {"op": "image", "stem": stem, "input": str(input_path), "mask": str(mask_path)}
            start = time.monotonic()
            try:
                reply = worker.ask(request, limit)
            except _WorkerDied as died:
                last = self.output.last_line()
                self._finish(stem, "failed", f"the model process died while restoring this image "
                             f"({died})" + (f"; last output: {last}" if last else ""),
                             wall_s=round(time.monotonic() - start, 3))
                worker.kill()
                worker, losses = None, losses + 1
                continue
            wall = round(time.monotonic() - start, 3)
            if reply is None:
                where = worker.where()
                worker.kill()
                worker, losses = None, losses + 1
                at = f" (it was at {where})" if where else ""
                if limit < config.image_time_limit_s:
                    error = (f"stopped after {limit:.0f} s{at}: the total time budget of "
                             f"{config.time_budget_s:g} s was used up")
                else:
                    error = (f"stopped after {limit:g} s{at}: the per-image time limit was exceeded; "
                             f"make the model faster or look for an endless loop")
                self._finish(stem, "failed", error, wall_s=wall)
                continue
            losses = 0
            self.findings.extend(reply["findings"])
            values = {"model_s": reply["model_s"], "wall_s": wall, "findings": len(reply["findings"]),
                      "peak_gpu_memory_mb": reply["peak_gpu_memory_mb"], "details": reply["details"],
                      "audit_verdict": reply["audit_verdict"]}
            if reply["status"] == "ok":
                self._write_later(stem, reply["pixels"], values)
                if stem in self.probe.stems:
                    self.probe.scored[stem] = reply["pixels"]
            elif "pixels" in reply:  # rejected by the audit: screened for the reviewer, never written
                self._write_later(stem, reply["pixels"], values, status="failed", error=reply["error"])
            else:
                self._finish(stem, reply["status"], reply["error"], **values)
        # The probe's calls come after every scored image, so the scored calls are made as they
        # would be without it (a model that counts its calls sees the same order).
        for stem, scored in self.probe.scored.items():
            if worker is None:
                worker = self._start_worker()
                if worker is None:
                    self.probe.notes.append(f"not probed to the end: restarting the model failed: "
                                            f"{self.load_error}")
                    break
            worker = self._probe_image(worker, stem, scored)
        if worker is not None:
            worker.stop()
        self._settle_writes(0)

    # -- the active resolution probe (aiflash.probe) ------------------------------------------------
    def _probe_image(self, worker: _WorkerProcess, stem: str, scored: np.ndarray) -> _WorkerProcess | None:
        """Restore x + a p, x - a p and x again (in a random order) for one image; the outputs are
        only measured. Returns the worker, or None when it had to be killed."""
        prepared = self.probe.prepare(stem, *self.inputs[stem])
        if prepared is None:
            return worker
        plan, plus, minus, clipped = prepared
        folder = self.scratch / f"probe-{secrets.token_hex(4)}"
        folder.mkdir()
        input_path, mask_path = self.inputs[stem]
        files = {"plus": folder / f"{stem}.png", "minus": folder / f"{stem}-.png", "repeat": input_path}
        write_png(files["plus"], plus)
        write_png(files["minus"], minus)
        order = list(files)
        self.probe.rng.shuffle(order)
        outputs: dict[str, np.ndarray] = {}
        start = time.monotonic()
        try:
            for name in order:
                limit = min(self.config.image_time_limit_s, self._remaining())
                if limit <= 0:
                    self.probe.notes.append(f"{stem}: not probed to the end: the time budget was used up")
                    return worker
                request = {"op": "image", "stem": stem, "input": str(files[name]), "mask": str(mask_path)}
                self.probe.calls += 1
                try:
                    reply = worker.ask(request, limit)
                except _WorkerDied as died:
                    self.probe.failures.append(f"{stem}: the model process died ({died})")
                    worker.kill()
                    return None
                if reply is None:
                    worker.kill()
                    if limit < self.config.image_time_limit_s:
                        self.probe.notes.append(f"{stem}: not probed to the end: the time budget was used up")
                    else:
                        self.probe.failures.append(f"{stem}: no answer within the per-image limit of "
                                                   f"{limit:g} s")
                    return None
                self.probe.model_s += reply["model_s"] or 0.0
                if reply["status"] != "ok":
                    self.probe.failures.append(f"{stem}: {reply['error']}")
                    return worker
                outputs[name] = reply["pixels"]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self.probe.wall_s += time.monotonic() - start
        self.probe.add(stem, plan, scored, outputs, clipped)
        return worker

    def _probe_folder(self, worker: _WorkerProcess, folder_out: Path, sizes: dict) -> None:
        """The folder API's probe: one more main() on a folder of the probe copies (random names),
        run while the model is loaded; its outputs are only measured."""
        stems = [stem for stem in self.inputs if stem in self.probe.stems]
        if not stems:
            return
        data = self.scratch / f"probe-{secrets.token_hex(4)}"
        (data / INPUT_DIR).mkdir(parents=True)
        (data / MASK_DIR).mkdir()
        out = data / "output"
        out.mkdir()
        jobs = []
        for stem in stems:
            input_path, mask_path = self.inputs[stem]
            try:
                scored, _ = read_rgb(folder_out / f"{stem}.png", error=ModelError)
            except AiflashError:
                continue  # no valid result for this image: its own failure is reported
            prepared = self.probe.prepare(stem, input_path, mask_path)
            if prepared is None:
                continue
            plan, plus, minus, clipped = prepared
            names = {name: secrets.token_hex(6) for name in ("plus", "minus", "repeat")}
            write_png(data / INPUT_DIR / f"{names['plus']}.png", plus)
            write_png(data / INPUT_DIR / f"{names['minus']}.png", minus)
            shutil.copyfile(input_path, data / INPUT_DIR / f"{names['repeat']}{input_path.suffix}")
            for name in names.values():
                shutil.copyfile(mask_path, data / MASK_DIR / f"{name}{mask_path.suffix}")
            jobs.append((stem, plan, scored, names, clipped))
        if not jobs:
            shutil.rmtree(data, ignore_errors=True)
            return
        limit = min(self.config.image_time_limit_s * 3 * len(jobs), self._remaining())
        request = {"op": "folder", "input_dir": str(data / INPUT_DIR), "output_dir": str(out),
                   "sizes": sorted({tuple(sizes[stem]) for stem, *_ in jobs})}
        self.probe.calls += 3 * len(jobs)
        start = time.monotonic()
        try:
            try:
                reply = worker.ask(request, limit)
            except _WorkerDied as died:
                self.probe.failures.append(f"main() on the probe inputs: the model process died ({died})")
                return
            if reply is None:
                self.probe.failures.append(f"main() on the probe inputs gave no answer within {limit:.0f} s")
                return
            self.probe.model_s += reply["model_s"] or 0.0
            if reply["error"]:
                self.probe.failures.append(f"main() on the probe inputs: {reply['error']}")
            for stem, plan, scored, names, clipped in jobs:
                outputs = {}
                for name, file in names.items():
                    try:
                        outputs[name], _ = read_rgb(out / f"{file}.png", error=ModelError)
                    except AiflashError as exc:
                        self.probe.failures.append(f"{stem}: main() wrote no valid result for a probe input "
                                                   f"({str(exc).replace(str(out), 'output_path')})")
                        break
                else:
                    self.probe.add(stem, plan, scored, outputs, clipped)
        finally:
            shutil.rmtree(data, ignore_errors=True)
            self.probe.wall_s += time.monotonic() - start

    # -- writing and screening results --------------------------------------------------------------
    def _write_later(self, stem: str, rgb: np.ndarray, values: dict, copy_from: Path | None = None,
                     status: str = "ok", error: str | None = None) -> None:
        """Write (or copy) the result and screen it in a writer thread, off the model's path. A result
        that failed (``status``, ``error``: rejected by the audit) is screened, never written, so the
        reviewer can compare its measures with the others'."""
        target = self.config.output_dir / f"{stem}.png" if status == "ok" else None
        self.images[stem]["status"] = "writing"
        job = self._writer.submit(_write_result, target, rgb, copy_from, self.inputs[stem], self.forensics)
        self._writes[stem] = (job, values, status, error)
        self._settle_writes(_PENDING_WRITES)

    def _settle_writes(self, keep: int) -> None:
        """Wait for the oldest writes until at most ``keep`` are pending; record them."""
        while len(self._writes) > keep:
            stem = next(iter(self._writes))
            future, values, status, error = self._writes.pop(stem)
            try:
                screening, values["content_check_s"] = future.result()
            except OSError as exc:
                self._finish(stem, "failed", f"writing the result failed ({exc}); this is a problem of "
                             f"the platform, not of the model: please resubmit", **values)
            else:
                self._finish(stem, status, error, screening=screening, **values)

    def _add_shared_findings(self, findings: list[dict]) -> None:
        self.findings.extend(findings)
        self.shared_verdict = worst_verdict(self.shared_verdict, audit_verdict(findings))

    def _run_folder(self, worker: _WorkerProcess) -> None:
        config = self.config
        sizes = {stem: read_rgb(paths[0], error=ReferenceDataError)[0].shape[:2]
                 for stem, paths in self.inputs.items()}
        folder_out = self.scratch / "main_output"
        folder_out.mkdir()
        limit = min(config.image_time_limit_s * len(self.inputs), self._remaining())
        request = {"op": "folder", "input_dir": str(config.input_dir / INPUT_DIR),
                   "output_dir": str(folder_out), "sizes": sorted({tuple(s) for s in sizes.values()})}
        reason = None
        observations: list[Observation] = []
        try:
            reply = worker.ask(request, limit)
        except _WorkerDied as died:
            reply, reason = None, f"the model process died during main() ({died})"
        if reply is None:
            if reason is None:
                where = worker.where()
                at = f" (it was at {where})" if where else ""
                reason = (f"main() was stopped after {limit:.0f} s{at}: the time limit for the folder "
                          f"(per-image limit x images, within the total budget) was exceeded")
            worker.kill()
        else:
            if not reply["error"]:
                self._probe_folder(worker, folder_out, sizes)
            worker.stop()
            self.folder_model_s = reply["model_s"]
            reason = reply["error"]
            if reply["details"]:
                self.notes.append(f"main() traceback:\n{reply['details']}")
            observations = [Observation.from_dict(o) for o in reply["observations"]]
            # Calls made for the whole folder belong to no single image: they count for every image,
            # except a proven round trip, which is attributed to the image that *is* the enlargement.
            shared = classify(observations, set(sizes.values()), None, None, config.policy)
            self._add_shared_findings([f.as_dict() for f in shared])
        self._collect_folder_results(folder_out, sizes, reason, observations)

    def _collect_folder_results(self, folder: Path, sizes: dict, reason: str | None,
                                observations: list[Observation]) -> None:
        """Validate every file main() wrote (name, decodability, 8-bit RGB, size), draw the audit's
        line for each, and keep (and screen) the good."""
        try:
            written = find_predictions(folder)
        except AiflashError as exc:  # e.g. a symbolic link among the results
            self._fail_pending(f"main() wrote {exc}")
            return
        extra = sorted(p.name for stem, paths in written.items() if stem not in self.inputs for p in paths)
        if extra:
            self.notes.append(f"main() wrote files that match no input, ignored: {', '.join(extra[:10])}")
        because = f" ({reason})" if reason else ""
        for stem in self._pending():
            paths = written.get(stem, [])
            if not paths:
                self._finish(stem, "failed", f"main() wrote no result for this image: expected "
                             f"{stem}.png in output_path{because}")
                continue
            if len(paths) > 1:
                names = " and ".join(p.name for p in paths)
                self._finish(stem, "failed", f"main() wrote {names} for the same image; write one {stem}.png")
                continue
            path = paths[0]
            try:
                rgb, note = read_rgb(path, error=ModelError)
            except AiflashError as exc:
                self._finish(stem, "failed", f"main() wrote {str(exc).replace(str(path), path.name)}")
                continue
            height, width = sizes[stem]
            if rgb.shape[:2] != (height, width):
                self._finish(stem, "failed", f"main() wrote {path.name} of {rgb.shape[0]}x{rgb.shape[1]} but "
                             f"the input is {height}x{width} (HxW); results must have exactly the input's "
                             f"size: resolution rescaling is not allowed.")
                continue
            proven = [f for f in classify(observations, {(height, width)}, stem, rgb, self.config.policy)
                      if f.kind == ROUND_TRIP]
            self.findings.extend(f.as_dict() for f in proven)
            values = {"findings": len(proven), "audit_verdict": audit_verdict(proven)}
            rejected = rejection(proven, self.config.policy)
            if rejected:
                self._write_later(stem, rgb, values, status="failed", error=rejected)
                continue
            copy_from = path if path.suffix.lower() == ".png" and not note else None
            self._write_later(stem, rgb, values, copy_from)
        self._settle_writes(0)

    def _apply_probe(self) -> None:
        """The probe judges the model: its verdict goes to every image (it only ever flags)."""
        verdict = self.probe.conclude()
        if verdict is None:
            return
        for entry in self.images.values():
            entry["probe_verdict"] = verdict.verdict
            if verdict.verdict == FLAGGED:
                entry["rescale_verdict"] = worst_verdict(entry["rescale_verdict"] or CLEAN, FLAGGED)
                entry["reasons"] = [*entry["reasons"], *(f"probe: {reason}" for reason in verdict.reasons)]

    def close(self) -> None:
        for worker in self._started_workers:  # normally all stopped already; after an error of ours, not
            if worker.process.poll() is None:
                worker.kill()
        # Daemons the model left (double fork + setsid escapes the process-group kill) were
        # re-parented to this process (a subreaper): end them all.
        self.strays_ended += end_descendants(self.spare)
        if self.strays_ended and self.config.verbose:
            print(f"Ended {self.strays_ended} stray process(es) the model left running.", flush=True)
        self.notes.extend(remove_reserved_outputs(self.config.output_dir))
        self._settle_writes(0)
        self._writer.shutdown()
        for stem in self._pending():  # only after an internal error of ours
            self._finish(stem, "failed", "not run: the ingestion program stopped early (see its log)")
        for partial in self.config.output_dir.glob("*.png.partial"):
            partial.unlink(missing_ok=True)
        self._apply_probe()
        self.output.finish()
        self.status = "complete" if all(e["status"] == "ok" for e in self.images.values()) else "failed"
        self.save()


def sandbox_arguments(config: IngestionConfig, code_root: Path, scratch: Path) -> list[str]:
    """The worker's sandbox options: where the model may write (its folder and the run's scratch,
    which holds its ``TMPDIR`` and ``HOME``), and what is switched off."""
    if not config.sandbox:
        return ["--no-sandbox"]
    arguments = []
    for folder in default_writable(code_root, scratch):
        arguments += ["--writable", str(folder)]
    return arguments + (["--allow-network"] if config.allow_network else [])


def remove_reserved_outputs(output_dir: Path) -> list[str]:
    """Codabench writes ``metadata`` into the output after the job and fails the submission if it
    is already there (spec §2.8): one written by the model is removed, with a note."""
    path = output_dir / "metadata"
    if not (path.exists() or path.is_symlink()):
        return []
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return ["the model wrote a file named 'metadata' into the output folder: removed (Codabench "
            "reserves that name and would fail the submission); write elsewhere, e.g. in tempfile's folder."]


def _write_result(target: Path | None, rgb: np.ndarray, copy_from: Path | None, source: tuple[Path, Path],
                  settings: ForensicsSettings) -> tuple[Screening, float]:
    """Write the result PNG (or copy a valid one; ``target`` None: nothing written), then screen it
    against its input; returns the screening and its time in seconds (decoding included)."""
    if target is not None:
        with atomic_path(target) as partial:
            if copy_from is not None:
                shutil.copyfile(copy_from, partial)
            else:
                write_png(partial, rgb)
    start = time.perf_counter()
    try:
        image, _ = read_rgb(source[0], error=ReferenceDataError)
        person = read_person_mask(source[1])
        screening = screen(rgb, image, person, settings)
    except Exception as exc:  # never lose a written result to the check; its failure is for review
        screening = Screening(FLAGGED, {}, (f"the content check could not run: {type(exc).__name__}: "
                                            f"{exc}",))
    return screening, round(time.perf_counter() - start, 4)


@functools.lru_cache(maxsize=1)
def _default_profile():
    from ..profile import load_profile

    return load_profile("default")


class _ProbeState:
    """The probe of one run: which images, its secret random stream, what it measured and cost."""

    def __init__(self, settings: ProbeSettings, seed: int | None, stems: list[str]):
        self.settings = settings
        self.rng = np.random.default_rng(secrets.randbits(128) if seed is None else seed)
        self.stems = set(choose_images(stems, settings.images, self.rng)) if settings.images else set()
        self.scored: dict[str, np.ndarray] = {}  # the probed images' scored outputs, until probed
        self.measurements: list[ProbeMeasurement] = []
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.calls = 0
        self.model_s = 0.0
        self.wall_s = 0.0
        self.verdict = None  # a ProbeVerdict once the run has ended

    def prepare(self, stem: str, input_path: Path, mask_path: Path):
        """(plan, x + a p, x - a p, clipped share) for one input, or None (noted) if it is too small."""
        image, _ = read_rgb(input_path, error=ReferenceDataError)
        plan = plan_probe(image, read_person_mask(mask_path), self.settings, self.rng)
        if plan is None:
            self.notes.append(f"{stem}: too small to probe ({image.shape[1]}x{image.shape[0]})")
            return None
        return (plan, *probe_inputs(image, plan))

    def add(self, stem: str, plan, scored: np.ndarray, outputs: dict[str, np.ndarray],
            clipped: float) -> None:
        if any(o.shape != scored.shape for o in outputs.values()):
            self.failures.append(f"{stem}: a probe output's size differs from the scored output's")
            return
        self.measurements.append(measure(stem, plan, scored, outputs["plus"], outputs["minus"],
                                         outputs["repeat"], clipped))

    def conclude(self):
        if not self.settings.images:
            return None
        self.verdict = judge(self.measurements, self.settings, self.failures)
        return self.verdict

    def record(self) -> dict:
        verdict = self.verdict.as_dict() if self.verdict is not None else {"verdict": None}
        return {"settings": self.settings.as_record(), **verdict,
                "images": [m.as_dict() for m in self.measurements], "failures": list(self.failures),
                "notes": list(self.notes) + list(verdict.get("notes", [])),
                "extra_calls": self.calls, "model_s": round(self.model_s, 3),
                "wall_s": round(self.wall_s, 3)}


def run_ingestion(config: IngestionConfig) -> IngestionOutcome:
    """Run the submission's model on every input. A missing model.py means a result submission:
    nothing is done and the output folder is left untouched."""
    code_root = find_code_root(config.submission_dir, MODEL_FILE)
    if code_root is None:
        return IngestionOutcome(ran=False)
    # The worker runs in the submission folder: every path it is given must be absolute.
    config = replace(config, input_dir=config.input_dir.resolve(), output_dir=config.output_dir.resolve())
    inputs = find_inputs(config.input_dir)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    become_subreaper()
    with tempfile.TemporaryDirectory(prefix="aiflash-ingestion-") as scratch, terminate_as_exit():
        run = _Run(config, code_root.resolve(), inputs, Path(scratch))
        run.spare = set(descendants(os.getpid()))
        run.save()
        try:
            run.execute()
        finally:
            run.close()
    record = run.record()
    failed = {e["image"]: e["error"] for e in record["images"] if e["status"] != "ok"}
    return IngestionOutcome(ran=True, record=record, failed=failed)


__all__ = ["IngestionConfig", "IngestionOutcome", "run_ingestion", "PER_IMAGE", "FOLDER",
           "DEFAULT_IMAGE_TIME_LIMIT_S", "DEFAULT_LOAD_TIME_LIMIT_S", "DEFAULT_TIME_BUDGET_S"]
