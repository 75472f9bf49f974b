"""The one description of a reproduction run that both runners execute.

A team is reproduced in two steps, laid out exactly as Codabench lays out its prediction and
scoring jobs (``shared/spec/codabench.md`` §2.3): the program being run is mounted read-only at
``/app/program`` (the working directory) and everything else is a named mount. The team's
submission is a private copy, writable as on Codabench (models write caches and converted weights
next to themselves); everything else the team's code can see, but its output, is read-only. The container
runner turns a :class:`Step` into ``docker run`` arguments; the local runner builds the same tree
out of symbolic links and runs the same command with this Python. Neither adds anything the other
lacks, so a test of the local runner exercises the same layout the container gets.

The ingestion step never sees the ground truth: the phase folder is not mounted, only its
``input/`` and ``mask_personmask/`` sub-folders are.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

PROGRAM_MOUNT = "/app/program"
INGESTION = "ingestion"
SCORING = "scoring"

# Sub-folders of the hidden phase data (as released: input/, gt/, mask_personmask/).
DATA_INPUT = "input"
DATA_GT = "gt"
DATA_MASK = "mask_personmask"

DEFAULT_COMMANDS = {INGESTION: "python3 ingestion.py", SCORING: "python3 score.py"}


@dataclass(frozen=True)
class Mount:
    """A host folder seen at ``target`` inside the step; read-only unless ``writable``."""

    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class Step:
    """One program run: ``command`` is what Codabench would execute, with container paths."""

    team: str
    name: str
    program: Path
    command: tuple[str, ...]
    mounts: tuple[Mount, ...]
    gpu: str | None
    log: Path
    scratch: Path
    timeout_s: float

    @property
    def all_mounts(self) -> tuple[Mount, ...]:
        """The program mount first, then the step's own mounts."""
        return (Mount(self.program, PROGRAM_MOUNT),) + self.mounts

    @property
    def writable_targets(self) -> tuple[str, ...]:
        return tuple(m.target for m in self.all_mounts if m.writable)


@dataclass(frozen=True)
class TeamLayout:
    """Where one team's files live under the reproduction output folder."""

    root: Path

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions"

    @property
    def scoring(self) -> Path:
        return self.root / "scoring"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def record(self) -> Path:
        return self.root / "result.json"

    @property
    def scratch(self) -> Path:
        """Runner's own working space (the local runner's mount tree)."""
        return self.root / ".run"

    @property
    def repeats(self) -> Path:
        """Runs 2..N of ``--repeat N``: ``repeats/run<k>/predictions`` (run 1 is ``predictions``)."""
        return self.root / "repeats"

    @property
    def online(self) -> Path:
        """The team's online outputs (``--online-outputs``), unpacked for comparison."""
        return self.root / "online"

    def run_predictions(self, run: int) -> Path:
        return self.predictions if run == 1 else self.repeats / f"run{run}" / "predictions"


@dataclass(frozen=True)
class Programs:
    """The organisers' ingestion and scoring program folders (each with its metadata.yaml)."""

    ingestion: Path
    scoring: Path
    ingestion_args: tuple[str, ...] = field(default=())
    scoring_args: tuple[str, ...] = field(default=())


def program_command(program: Path, step_name: str) -> tuple[str, ...]:
    """The ``command`` of the program's metadata.yaml, split without a shell as Codabench does."""
    for name in ("metadata.yaml", "metadata"):
        path = program / name
        if path.is_file():
            try:
                meta = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError:
                meta = None
            if isinstance(meta, dict) and isinstance(meta.get("command"), str):
                return tuple(shlex.split(meta["command"]))
            break
    return tuple(shlex.split(DEFAULT_COMMANDS[step_name]))


def _under(target: str, *parts: str) -> str:
    return str(PurePosixPath(target, *parts))


def ingestion_step(team: str, layout: TeamLayout, data: Path, programs: Programs,
                   gpu: str | None, timeout_s: float, run: int = 1) -> Step:
    """Run the team's code on the hidden inputs: Codabench's prediction job, ingestion container.
    ``run`` > 1 (``--repeat``) writes to that run's own prediction folder and log."""
    input_data, submission, output = "/app/input_data", "/app/ingested_program", "/app/output"
    suffix = "" if run == 1 else f"-run{run}"
    return Step(
        team=team, name=INGESTION, program=programs.ingestion,
        command=program_command(programs.ingestion, INGESTION) + (
            "--input-dir", input_data, "--submission-dir", submission, "--output-dir", output,
        ) + programs.ingestion_args,
        mounts=(
            # Writable like Codabench's bind mount: the copy is this team's own, re-staged each run.
            Mount(layout.submission, submission, writable=True),
            Mount(data / DATA_INPUT, _under(input_data, DATA_INPUT)),
            Mount(data / DATA_MASK, _under(input_data, DATA_MASK)),
            Mount(layout.run_predictions(run), output, writable=True),
        ),
        gpu=gpu, log=layout.logs / f"{INGESTION}{suffix}.log",
        scratch=layout.scratch / f"{INGESTION}{suffix}",
        timeout_s=timeout_s,
    )


def scoring_step(team: str, layout: TeamLayout, data: Path, programs: Programs,
                 gpu: str | None, timeout_s: float) -> Step:
    """Score the predictions against the ground truth: Codabench's scoring job."""
    ref, res, output = "/app/input/ref", "/app/input/res", "/app/output"
    return Step(
        team=team, name=SCORING, program=programs.scoring,
        command=program_command(programs.scoring, SCORING) + (
            "--reference-dir", ref, "--prediction-dir", res, "--output-dir", output,
        ) + programs.scoring_args,
        mounts=(
            Mount(data / DATA_GT, _under(ref, DATA_GT)),
            Mount(data / DATA_MASK, _under(ref, DATA_MASK)),
            Mount(layout.predictions, res),
            Mount(layout.scoring, output, writable=True),
        ),
        gpu=gpu, log=layout.logs / f"{SCORING}.log", scratch=layout.scratch / SCORING,
        timeout_s=timeout_s,
    )
