"""The ingestion and scoring programs of the built bundle: the exact programs that produced the
online scores, unpacked from the bundle zip for reproduction (mounted at ``/app/program``, as the
Codabench worker mounts them), with the bundle's sha256 and the ``aiflash`` version they carry.

Only the code phase's two program folders are read from the zip (never its data, which may be
gigabytes). The bundle's programs must carry the same ``aiflash`` version as the package installed
in the image (or, with the local runner, beside this Python): programs and image from different
commits can score differently with nothing to say so.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from ..bundle.competition import is_code_phase, ordered_phases, phase_task
from ..bundle.data import sha256_file
from .errors import ReproductionError
from .steps import Programs

PROGRAM_KEYS = ("ingestion_program", "scoring_program")
VERSION_FILE = "aiflash/__init__.py"


@dataclass(frozen=True)
class BundlePrograms:
    """The programs unpacked from one bundle zip."""

    bundle: Path
    sha256: str
    version: str
    programs: Programs


def _program_paths(archive: zipfile.ZipFile, bundle: Path) -> dict[str, str]:
    """The code phase's program paths from the bundle's competition.yaml."""
    try:
        competition = yaml.safe_load(archive.read("competition.yaml"))
    except KeyError:
        raise ReproductionError(f"{bundle}: no competition.yaml at the zip root; give the zip that "
                                f"`make bundle` wrote (dist/*.zip).") from None
    except yaml.YAMLError as exc:
        raise ReproductionError(f"{bundle}: competition.yaml is not valid YAML ({exc}).") from exc
    code = [p for p in ordered_phases(competition if isinstance(competition, dict) else {})
            if is_code_phase(competition, p)]
    if not code:
        raise ReproductionError(f"{bundle}: no phase with an ingestion program (code submissions); "
                                f"give the competition's bundle zip.")
    task = phase_task(competition, code[-1])
    return {key: str(task[key]).strip("/") for key in PROGRAM_KEYS}


def _extract_folder(archive: zipfile.ZipFile, bundle: Path, prefix: str, target: Path) -> None:
    """Members under ``prefix/`` into ``target`` (no absolute or ``..`` paths; files only)."""
    members = [m for m in archive.infolist() if m.filename.startswith(prefix + "/") and not m.is_dir()]
    if not members:
        raise ReproductionError(f"{bundle}: {prefix}/ is not in the zip (pre-zipped programs are not "
                                f"supported here); rebuild it with `make bundle`.")
    for member in members:
        relative = PurePosixPath(member.filename[len(prefix) + 1:])
        if relative.is_absolute() or ".." in relative.parts:
            raise ReproductionError(f"{bundle}: unsafe path {member.filename!r} in the zip.")
        destination = target.joinpath(*relative.parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(member) as source, destination.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)


def bundled_version(program: Path) -> str:
    """``__version__`` of the aiflash copy inside a staged program folder (read, not imported)."""
    path = program / VERSION_FILE
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise ReproductionError(f"{path}: cannot read the bundled package's version ({exc}); "
                                f"rebuild the bundle with `make bundle`.") from exc
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__version__" for t in node.targets)
                and isinstance(node.value, ast.Constant)):
            return str(node.value.value)
    raise ReproductionError(f"{path}: no __version__; rebuild the bundle with `make bundle`.")


def unpack_programs(bundle: Path, target_root: Path) -> BundlePrograms:
    """The code phase's ingestion and scoring programs of ``bundle``, unpacked once per bundle
    content under ``target_root/<sha256 prefix>/`` (kept: a resumed run reuses them)."""
    if not bundle.is_file():
        raise ReproductionError(f"{bundle}: bundle zip not found; build it with `make bundle` (it writes "
                                f"dist/aiflash-portrait-ntire2026.zip) or pass --bundle PATH.")
    digest = sha256_file(bundle)
    target = target_root / digest[:16]
    try:
        with zipfile.ZipFile(bundle) as archive:
            paths = _program_paths(archive, bundle)
            if not (target / ".complete").is_file():
                if target.exists():
                    shutil.rmtree(target)
                for key, prefix in paths.items():
                    _extract_folder(archive, bundle, prefix, target / key)
                (target / ".complete").write_text(digest + "\n")
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReproductionError(f"{bundle}: not a readable zip ({exc}); rebuild it with `make bundle`.") \
            from exc
    programs = Programs(target / "ingestion_program", target / "scoring_program")
    versions = {bundled_version(folder) for folder in (programs.ingestion, programs.scoring)}
    if len(versions) != 1:
        raise ReproductionError(f"{bundle}: its two programs carry different aiflash versions "
                                f"({', '.join(sorted(versions))}); rebuild it with `make bundle`.")
    return BundlePrograms(bundle, digest, versions.pop(), programs)


def probe_version(argv: list[str], where: str) -> str:
    """The aiflash version printed by a runner's ``version_probe`` command."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReproductionError(f"cannot ask {where} for its aiflash version ({exc}).") from exc
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReproductionError(f"{where} has no installed aiflash package ({last}); build the image "
                                f"with `make docker`.")
    return lines[-1].strip()


def check_versions(programs: BundlePrograms, image_version: str, where: str, allow: bool) -> str:
    """Refuse programs whose aiflash version differs from the image's; returns a note when allowed."""
    if programs.version == image_version:
        return ""
    message = (f"{programs.bundle}: the bundle's programs carry aiflash {programs.version} but {where} "
               f"has aiflash {image_version}")
    if allow:
        return message + " (run anyway: --allow-version-mismatch)"
    raise ReproductionError(message + "; build the bundle and the image from the same commit (`make "
                                      "bundle`, `make docker`), or pass --allow-version-mismatch.")
