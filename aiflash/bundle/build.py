"""Build the Codabench bundle zip from the repository and the organiser's phase data.

The repository's competition.yaml is the single description of the bundle. The builder stages what
it names: pages, terms and logo as they are; each program folder plus a clean copy of the
``aiflash`` package (programs run with only the image's packages); ``data/phase<N>/<kind>/`` from
phase N's data (kinds: ``reference_data``, ``input_data``, ``dev_data``, see ``data.py``);
``solutions/results_phase<N>/`` from phase N's sample results (or its inputs, as identity results);
``solutions/<name>/`` from ``sample_submissions/<name>/``; the starting kit with zipped sample
submissions and each phase's public manifest. Then it validates the staged tree against every
Codabench rule, writes MANIFEST.json (sha256 of every data file) and a reproducible zip.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import __version__
from ..atomic import atomic_path
from ..discovery import GT_DIR, INPUT_DIR, PHASE_RULES_FILE, find_predictions
from ..errors import BundleError, ReferenceDataError
from ..images import read_rgb, write_png
from . import BUNDLE_NAME, DOCKER_IMAGE
from .competition import effective_time_limit, is_code_phase, ordered_phases, phase_task
from .data import DEV, REFERENCE, PhaseData, image_table, pack, scan, sha256_file
from .validate import YAML_NAME, Problem, errors, ingestion_time_budget, load_yaml, validate_bundle

PACKAGE = "aiflash"
SAMPLE_DATA = Path("reference_data") / "sample"
SAMPLE_SUBMISSIONS = "sample_submissions"
RESULTS_DIR = "results"  # sample results beside an organiser's input/ gt/ mask_personmask/
MANIFEST_NAME = "MANIFEST.json"
PHASE_DATA_PATH = re.compile(r"^data/phase(\d+)/(reference_data|input_data|dev_data)/?$")
RESULT_SOLUTION_PATH = re.compile(r"^solutions/results_phase(\d+)/?$")
CODE_SOLUTION_PATH = re.compile(r"^solutions/([A-Za-z0-9_.-]+)/?$")
# Of a job's time limit, what the ingestion program's own --time-budget leaves for what the limit
# also covers (spec §2.7: the alarm wraps the containers' whole run): the container's start, the
# interpreter and torch imports before the program's clock starts, stopping the model and writing
# ingestion.json. The budget of a phase that really gets L seconds is at most L - this.
INGESTION_START_MARGIN_S = 120
_PLAIN_COMMAND = re.compile(r"[\w./=:+-]+( [\w./=:+-]+)*")
_STORED = (".png", ".jpg", ".jpeg", ".zip")  # already compressed: stored, not deflated
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class BuiltBundle:
    zip_path: Path
    warnings: list[Problem]
    manifest: dict


def _ignore(_folder: str, names: list[str]) -> set[str]:
    """What never ships: dotfiles, caches, bytecode, build metadata."""
    return {n for n in names if n.startswith(".") or n == "__pycache__" or n.endswith((".pyc", ".egg-info"))}


def copy_clean(source: Path, target: Path) -> None:
    if not source.is_dir():
        raise BundleError(f"{source}: folder not found; the bundle needs it (check the repository checkout).")
    shutil.copytree(source, target, ignore=_ignore, dirs_exist_ok=True)


def stage_program(repo: Path, program: str, target: Path) -> None:
    """A program folder with the package beside its script, so it runs with no install (§5.7)."""
    copy_clean(repo / program, target)
    copy_clean(repo / PACKAGE, target / PACKAGE)


def zip_folder(folder: Path, archive: Path) -> Path:
    """A reproducible zip of a folder's *contents* (files at the archive root, as Codabench wants),
    without what never ships (dotfiles, caches, bytecode)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not _ignore("", list(p.relative_to(folder).parts)))
    with atomic_path(archive) as partial, zipfile.ZipFile(partial, "w") as out:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _ZIP_TIME)
            info.external_attr = 0o644 << 16
            stored = path.suffix.lower() in _STORED
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            with path.open("rb") as stream:
                out.writestr(info, stream.read())
    return archive


def set_time_budget(program: Path, seconds: float, why: str) -> None:
    """Make the ingestion program's metadata command run with ``--time-budget seconds`` (a comment
    above it says why); the rest of the command and the file stay as written."""
    path = program / "metadata.yaml"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("command:")), None)
    if at is None:
        raise BundleError(f"{path}: no one-line `command:` to set --time-budget in.")
    argv, skip = [], False
    for arg in shlex.split(str(yaml.safe_load(lines[at])["command"])):
        if skip or arg.startswith("--time-budget="):
            skip = False
            continue
        if arg == "--time-budget":
            skip = True
            continue
        argv.append(arg)
    command = shlex.join([*argv, "--time-budget", f"{seconds:g}"])
    shown = command if _PLAIN_COMMAND.fullmatch(command) else json.dumps(command)
    lines[at:at + 1] = [f"# Set by `aiflash bundle`: {why}", f"command: {shown}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def fit_ingestion_budgets(competition: dict, staging: Path) -> dict[str, float]:
    """Lower each staged ingestion program's --time-budget to what its code phases really get
    (``effective_time_limit``: 600 s on the default queue whatever the phase asks) minus
    ``INGESTION_START_MARGIN_S``, so a slow model is stopped with a report before the worker's
    limit; returns {program: budget} for the programs changed."""
    limits: dict[str, tuple[int, str]] = {}
    for number, chosen in enumerate(ordered_phases(competition), start=1):
        if not is_code_phase(competition, chosen):
            continue
        program = str(phase_task(competition, chosen)["ingestion_program"]).rstrip("/")
        limit = effective_time_limit(competition, chosen)
        if program not in limits or limit < limits[program][0]:
            queue = "" if competition.get("queue") else " (no `queue:`: Codabench's default queue caps it)"
            asked = chosen.get("execution_time_limit")
            limits[program] = (limit, f"phase {number} ({chosen.get('name')}) gets {limit} s per job"
                                      f"{queue}; the phase asks {asked} s")
    changed = {}
    for program, (limit, why) in sorted(limits.items()):
        folder = staging / program
        budget = ingestion_time_budget(folder) if folder.is_dir() else None
        wanted = float(limit - INGESTION_START_MARGIN_S)
        if budget is not None and budget > wanted:
            set_time_budget(folder, wanted, why)
            changed[program] = wanted
    return changed


class _Stager:
    def __init__(self, repo: Path, staging: Path, phase_sources: dict[int, Path]):
        self.repo, self.staging = repo, staging
        self.phase_sources = phase_sources
        self.scanned: dict[Path, PhaseData] = {}
        self.files: dict[str, dict] = {}

    def source(self, number: int) -> Path:
        return self.phase_sources.get(number, self.repo / SAMPLE_DATA)

    def data(self, number: int, need_gt: bool = False) -> PhaseData:
        """Phase N's data, scanned once per source folder; ``need_gt``: refuse it without gt/."""
        key = self.source(number).resolve()
        if key not in self.scanned:
            self.scanned[key] = scan(self.source(number), require_gt=False)
        data = self.scanned[key]
        if need_gt and not data.has_gt:
            raise ReferenceDataError(f"{self.source(number)}: no {GT_DIR}/ folder, but phase {number}'s "
                                     f"reference data needs the ground truth.")
        return data

    def copy_file(self, rel: str) -> None:
        source = self.repo / rel
        if source.is_file():
            (self.staging / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, self.staging / rel)

    def phase_data(self, rel: str, result_phases: set[int] = frozenset()) -> bool:
        match = PHASE_DATA_PATH.match(rel)
        if not match:
            return False
        number, kind = int(match.group(1)), match.group(2)
        target = self.staging / "data" / f"phase{number}"
        if not (target / kind).exists():
            data = self.data(number, need_gt=kind in (REFERENCE, DEV))
            # A result phase's inputs are public: beside gt/ they let the scoring program screen
            # each result for a resampling trace (aiflash.forensics). A code phase's stay hidden.
            written = pack(data, target, (kind,), inputs_in_reference=number in result_phases)
            self.files.update({f"data/phase{number}/{path}": info for path, info in written.items()})
        return True

    def result_solution(self, number: int, target: Path) -> None:
        """Phase N's sample results if the data has them for every stem; else its inputs, as PNG."""
        data = self.data(number)
        results = self.source(number) / RESULTS_DIR
        found = find_predictions(results) if results.is_dir() else {}
        target.mkdir(parents=True, exist_ok=True)
        if set(found) == set(data.stems):
            for paths in found.values():
                shutil.copyfile(paths[0], target / paths[0].name)
            return
        for image in data.images:  # identity results: a valid submission for any phase data
            write_png(target / f"{image.stem}.png", read_rgb(image.files[INPUT_DIR])[0])

    def solution(self, rel: str) -> None:
        target = self.staging / rel
        if target.exists():
            return
        if match := RESULT_SOLUTION_PATH.match(rel):
            self.result_solution(int(match.group(1)), target)
        elif match := CODE_SOLUTION_PATH.match(rel):
            copy_clean(self.repo / SAMPLE_SUBMISSIONS / match.group(1), target)
        else:
            return
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            self.files[path.relative_to(self.staging).as_posix()] = {
                "sha256": sha256_file(path), "bytes": path.stat().st_size}

    def starting_kit(self, rel: str, competition: dict) -> None:
        target = self.staging / rel
        if target.exists():
            return
        copy_clean(self.repo / rel, target)
        samples = self.repo / SAMPLE_SUBMISSIONS
        if samples.is_dir():
            (target / SAMPLE_SUBMISSIONS).mkdir(exist_ok=True)
            for folder in sorted(p for p in samples.iterdir() if p.is_dir() and not _ignore("", [p.name])):
                zip_folder(folder, target / SAMPLE_SUBMISSIONS / f"{folder.name}.zip")
        (target / "manifests").mkdir(exist_ok=True)
        for number, chosen in enumerate(ordered_phases(competition), start=1):
            manifest = public_manifest(competition, number, chosen, self.data(number))
            (target / "manifests" / f"phase{number}.json").write_text(
                json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def public_manifest(competition: dict, number: int, chosen: dict, data: PhaseData) -> dict:
    """What a participant may know of a phase's data: stems and sizes for result phases (they have
    the inputs); for a code phase on hidden inputs only the count and sizes."""
    code = is_code_phase(competition, chosen)
    manifest = {
        "phase": number,
        "name": chosen.get("name"),
        "submission": "code" if code else "results",
        "execution_time_limit": effective_time_limit(competition, chosen),
        "count": len(data.images),
    }
    if code:
        sizes: dict[str, int] = {}
        for image in data.images:
            sizes[f"{image.width}x{image.height}"] = sizes.get(f"{image.width}x{image.height}", 0) + 1
        manifest["sizes"] = sizes
    else:
        manifest["images"] = image_table(data)
    return manifest


def _referenced_paths(competition: dict) -> dict[str, list[str]]:
    """Every path the yaml names, grouped by what the builder does with it."""
    groups: dict[str, list[str]] = {"files": [], "programs": [], "data": [], "solutions": [], "kits": []}
    groups["files"] += [competition.get("image"), competition.get("terms")]
    groups["files"] += [p.get("file") for p in competition.get("pages") or [] if isinstance(p, dict)]
    for task in competition.get("tasks") or []:
        groups["programs"] += [task.get(k) for k in ("scoring_program", "ingestion_program")]
        groups["data"] += [task.get(k) for k in ("input_data", "reference_data")]
    for chosen in competition.get("phases") or []:
        groups["data"].append(chosen.get("public_data"))
        groups["kits"].append(chosen.get("starting_kit"))
    groups["solutions"] += [s.get("path") for s in competition.get("solutions") or [] if isinstance(s, dict)]
    return {k: sorted({v.rstrip("/") for v in values if isinstance(v, str)}) for k, values in groups.items()}


def stage_bundle(repo: Path, staging: Path, phase_sources: dict[int, Path] | None = None) -> dict:
    """Assemble the bundle tree in ``staging`` (empty or absent); returns the MANIFEST."""
    if not (repo / YAML_NAME).is_file():
        raise BundleError(f"{repo}: no {YAML_NAME} here; run from the repository root or pass --source.")
    competition, problems = load_yaml(repo)
    if competition is None:
        raise BundleError(str(problems[0]))
    staging.mkdir(parents=True, exist_ok=True)
    stager = _Stager(repo, staging, phase_sources or {})
    shutil.copyfile(repo / YAML_NAME, staging / YAML_NAME)
    paths = _referenced_paths(competition)
    result_phases = {number for number, chosen in enumerate(ordered_phases(competition), start=1)
                     if not is_code_phase(competition, chosen)}
    for rel in paths["files"]:
        stager.copy_file(rel)
    for rel in paths["programs"]:
        if (repo / rel).is_dir() and not (staging / rel).exists():
            stage_program(repo, rel, staging / rel)
    budgets = fit_ingestion_budgets(competition, staging)
    for rel in paths["data"]:
        if stager.phase_data(rel, result_phases) or not (repo / rel).exists():
            continue
        if (repo / rel).is_dir():
            copy_clean(repo / rel, staging / rel)
        else:
            stager.copy_file(rel)
    for chosen in ordered_phases(competition):
        reference = phase_task(competition, chosen).get("reference_data")
        if is_code_phase(competition, chosen) and isinstance(reference, str) \
                and (staging / reference).is_dir():
            rules = staging / reference / PHASE_RULES_FILE
            rules.write_text('{"submissions": "code"}\n')
            stager.files[f"{reference.rstrip('/')}/{PHASE_RULES_FILE}"] = {
                "sha256": sha256_file(rules), "bytes": rules.stat().st_size}
    for rel in paths["solutions"]:
        stager.solution(rel)
    for rel in paths["kits"]:
        stager.starting_kit(rel, competition)
    manifest = {
        "name": BUNDLE_NAME,
        "aiflash_version": __version__,
        "docker_image": DOCKER_IMAGE,
        "ingestion_time_budget_s": budgets,
        "phases": {
            str(number): {"source": stager.source(number).name,
                          "images": image_table(stager.data(number))}
            for number in range(1, len(ordered_phases(competition)) + 1)
        },
        "files": dict(sorted(stager.files.items())),
    }
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def build_bundle(repo: Path, output_dir: Path, phase_sources: dict[int, Path] | None = None,
                 name: str = BUNDLE_NAME, report=print) -> BuiltBundle:
    """Stage, validate (refusing with every problem) and zip the bundle to ``output_dir/<name>.zip``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}.", dir=output_dir) as scratch:
        staging = Path(scratch) / name
        manifest = stage_bundle(repo, staging, phase_sources)
        problems = validate_bundle(staging)
        for program, budget in manifest["ingestion_time_budget_s"].items():
            report(f"{program}: --time-budget {budget:g} s, from the time the code phase really gets "
                   f"(see the comment in its metadata.yaml)")
        for problem in problems:
            report(str(problem))
        if errors(problems):
            raise BundleError(f"{repo / YAML_NAME}: {len(errors(problems))} Codabench rule(s) broken "
                              f"(listed above); fix them and run `aiflash bundle` again.")
        zip_path = zip_folder(staging, output_dir / f"{name}.zip")
    return BuiltBundle(zip_path, [p for p in problems if p.warning], manifest)
