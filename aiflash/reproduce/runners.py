"""Two ways to execute a :class:`~aiflash.reproduce.steps.Step`: in the competition container
(``docker run``, isolated) or locally (a subprocess with this Python, same folder layout, no
isolation: for tests and for machines without Docker).

Both write the exact command line as the first line of the step's log, then its stdout+stderr.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .errors import ReproductionError
from .steps import PROGRAM_MOUNT, Step

# Prints the installed aiflash distribution's version (the programs' own copy is read from the zip).
VERSION_PROBE = "import importlib.metadata as m; print(m.version('aiflash'))"

# `docker run` exits 125 when Docker itself failed (daemon down, unknown flag, image missing):
# the organisers' problem, never the team's, so the team is retried on the next run. (The exit
# status of a step is the organisers' program's, never the team's code's, which runs in a child
# of the ingestion program: a team cannot fake this.)
DOCKER_OWN_FAILURE = 125


@dataclass(frozen=True)
class StepOutcome:
    """How one step ended. ``infrastructure_error`` means the step could not run at all."""

    name: str
    returncode: int | None
    seconds: float
    timed_out: bool
    command: tuple[str, ...]
    log: Path
    infrastructure_error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.infrastructure_error

    def as_dict(self) -> dict:
        return {"returncode": self.returncode, "seconds": round(self.seconds, 3),
                "timed_out": self.timed_out, "infrastructure_error": self.infrastructure_error,
                "log": str(self.log)}


class Runner(Protocol):
    kind: str
    image: str | None

    def preflight(self) -> None:
        """Refuse to start (ReproductionError) if this runner cannot work here."""

    def describe(self, step: Step) -> list[str]:
        """The command line that ``run`` executes for ``step``."""

    def version_probe(self) -> tuple[list[str], str]:
        """The command printing the aiflash version the programs run with, and what to call it."""

    def run(self, step: Step) -> StepOutcome: ...

    def cancel(self) -> None:
        """Stop every step in flight; later steps do not start."""


def log_tail(path: Path, lines: int = 40) -> list[str]:
    """The last ``lines`` lines of a log (without reading a huge log into memory)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
    except OSError:
        return []


class _Processes:
    """The steps a runner has in flight, so an interrupt (Ctrl-C) can stop them all: the
    children run in their own sessions (and containers outlive their client), so the terminal's
    signal does not reach them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stops: dict[int, Callable[[], None]] = {}
        self.cancelled = threading.Event()

    def add(self, pid: int, stop: Callable[[], None]) -> None:
        with self._lock:
            self._stops[pid] = stop

    def discard(self, pid: int) -> None:
        with self._lock:
            self._stops.pop(pid, None)

    def cancel(self) -> None:
        self.cancelled.set()
        with self._lock:
            stops = list(self._stops.values())
        for stop in stops:
            stop()


INTERRUPTED = "interrupted by the organiser (Ctrl-C); the team is redone on the next run"


def _execute(step: Step, argv: list[str], *, cwd: Path | None, env: dict[str, str] | None,
             stop: Callable[[subprocess.Popen], None], kind: str, processes: _Processes) -> StepOutcome:
    if processes.cancelled.is_set():
        return StepOutcome(step.name, None, 0.0, False, tuple(argv), step.log, INTERRUPTED)
    step.log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with step.log.open("w", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(argv)}\n")
        log.flush()
        try:
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return StepOutcome(step.name, None, 0.0, False, tuple(argv), step.log,
                               infrastructure_error=f"could not start {argv[0]}: {exc}")
        processes.add(process.pid, lambda: stop(process))
        timed_out = False
        try:
            returncode = process.wait(timeout=step.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop(process)
            returncode = process.wait()
            log.write(f"\n[aiflash reproduce] {step.name} stopped after the {step.timeout_s:g} s limit\n")
        finally:
            processes.discard(process.pid)
    seconds = time.monotonic() - start
    infrastructure = ""
    if processes.cancelled.is_set():
        infrastructure = INTERRUPTED
    elif kind == "docker" and returncode == DOCKER_OWN_FAILURE and not timed_out:
        last = (log_tail(step.log, 1) or ["no output"])[-1]
        infrastructure = f"docker could not run the container (exit 125): {last}"
    return StepOutcome(step.name, returncode, seconds, timed_out, tuple(argv), step.log,
                       infrastructure_error=infrastructure)


@dataclass(frozen=True)
class ContainerLimits:
    """Resource limits of every step's container."""

    memory: str = "64g"
    shm_size: str = "8g"  # PyTorch DataLoader workers share tensors through /dev/shm (Docker: 64 MB)
    pids_limit: int = 4096
    tmp_size: str = "16g"


_SAFE_NAME = re.compile(r"[^a-zA-Z0-9_.-]+")


class ContainerRunner:
    """Runs each step in the competition image with the isolation Codabench gives and more:
    no network, read-only root filesystem, every capability dropped, no privilege gain, pids,
    memory and shared-memory limits, one GPU. Writable: the step's output folder, the team's
    private copy of its submission (as on Codabench) and a tmpfs /tmp; nothing else."""

    kind = "docker"

    def __init__(self, image: str, *, docker: str = "docker", limits: ContainerLimits | None = None,
                 user: str | None = None) -> None:
        self.image = image
        self.docker = docker
        self.limits = limits or ContainerLimits()
        # The organiser's uid: output folders are theirs, so nothing needs root or DAC_OVERRIDE
        # (dropped), and every file written belongs to them.
        self.user = user or f"{os.getuid()}:{os.getgid()}"
        self._processes = _Processes()

    def container_name(self, step: Step) -> str:
        team = _SAFE_NAME.sub("_", step.team).strip("_.-")[:40] or "team"
        return f"aiflash-repro-{team}-{step.name}-{uuid.uuid4().hex[:8]}"

    def describe(self, step: Step, name: str | None = None) -> list[str]:
        limits = self.limits
        argv = [
            self.docker, "run", "--rm", "--name", name or self.container_name(step),
            "--pull", "never",
            "--network", "none",
            "--read-only",
            "--tmpfs", f"/tmp:rw,nosuid,nodev,size={limits.tmp_size}",
            "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--pids-limit", str(limits.pids_limit),
            "--memory", limits.memory,
            "--memory-swap", limits.memory,  # equal to --memory: no swap on top
            "--shm-size", limits.shm_size,
            "--user", self.user,
            "--env", "HOME=/tmp",
            "--env", "PYTHONUNBUFFERED=1",
            # Explicit even with --gpus: a host whose default runtime is nvidia would otherwise
            # honour the image's NVIDIA_VISIBLE_DEVICES=all and show every GPU.
            "--env", f"NVIDIA_VISIBLE_DEVICES={step.gpu if step.gpu is not None else 'void'}",
        ]
        if step.gpu is not None:
            argv += ["--gpus", f"device={step.gpu}"]
        argv += ["--label", f"aiflash.team={step.team}", "--label", f"aiflash.step={step.name}",
                 "--workdir", PROGRAM_MOUNT]
        for mount in step.all_mounts:
            source = str(mount.source.resolve())
            if any(c in source for c in ',"\n'):
                raise ReproductionError(
                    f"{source}: docker --mount cannot take a path with a comma, quote or newline; "
                    f"rename the folder.")
            spec = f"type=bind,source={source},target={mount.target}"
            argv += ["--mount", spec if mount.writable else spec + ",readonly"]
        return argv + [self.image, *step.command]

    def version_probe(self) -> tuple[list[str], str]:
        return ([self.docker, "run", "--rm", "--pull", "never", "--network", "none", "--user", self.user,
                 "--entrypoint", "python3", self.image, "-c", VERSION_PROBE], f"image {self.image}")

    def preflight(self) -> None:
        try:
            result = subprocess.run([self.docker, "image", "inspect", "--format", "{{.Id}}", self.image],
                                    capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ReproductionError(f"cannot run `{self.docker}` ({exc}); install Docker or use "
                                    f"--runner local.") from exc
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ReproductionError(
                f"{self.docker} cannot use image {self.image} ({last}); start Docker if it is not "
                f"running, and build the image with `make docker` (or `docker pull` it) first: "
                f"reproduction never pulls.")

    def run(self, step: Step) -> StepOutcome:
        name = self.container_name(step)
        argv = self.describe(step, name)

        def stop(process: subprocess.Popen) -> None:
            # Killing the client would leave the container running: stop it through the daemon.
            try:
                subprocess.run([self.docker, "kill", name], capture_output=True, timeout=120)
                process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        return _execute(step, argv, cwd=None, env=None, stop=stop, kind=self.kind,
                        processes=self._processes)

    def cancel(self) -> None:
        self._processes.cancel()


class LocalRunner:
    """Runs each step with this Python in a tree of symbolic links that reproduces the
    container's mounts (``<scratch>/app/program`` -> program, ...). The same command runs, with
    ``/app/...`` arguments mapped into that tree. No isolation: trusted code only."""

    kind = "local"
    image = None

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable
        self._processes = _Processes()

    def preflight(self) -> None:
        if not Path(self.python).exists():
            raise ReproductionError(f"Python interpreter {self.python} not found.")

    def version_probe(self) -> tuple[list[str], str]:
        return [self.python, "-c", VERSION_PROBE], f"this Python ({self.python})"

    def _host_path(self, step: Step, container_path: str) -> Path:
        return step.scratch / container_path.lstrip("/")

    def _map(self, step: Step, token: str) -> str:
        if token == "/app" or token.startswith("/app/"):
            return str(self._host_path(step, token))
        return token

    def describe(self, step: Step) -> list[str]:
        command = list(step.command)
        if command and command[0] in ("python3", "python"):
            command[0] = self.python
        return [self._map(step, token) for token in command]

    def build_tree(self, step: Step) -> Path:
        """Create the mount tree; returns the working directory (the program mount)."""
        if step.scratch.exists():
            # rmtree unlinks the symbolic links, never what they point to (the team's data).
            shutil.rmtree(step.scratch)
        for mount in step.all_mounts:
            link = self._host_path(step, mount.target)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(mount.source.resolve(), target_is_directory=True)
        return self._host_path(step, PROGRAM_MOUNT)

    def environment(self, step: Step) -> dict[str, str]:
        env = dict(os.environ)
        env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1",
                   CUDA_VISIBLE_DEVICES="" if step.gpu is None else step.gpu)
        return env

    def run(self, step: Step) -> StepOutcome:
        cwd = self.build_tree(step)

        def stop(process: subprocess.Popen) -> None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        return _execute(step, self.describe(step), cwd=cwd, env=self.environment(step),
                        stop=stop, kind=self.kind, processes=self._processes)

    def cancel(self) -> None:
        self._processes.cancel()

