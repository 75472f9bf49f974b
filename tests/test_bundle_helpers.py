"""Shared by the bundle, Codabench-simulation and dry-run tests: one built bundle per test session
(a real `aiflash bundle` run), zips made the ways participants make them, CLI runs as subprocesses.
No tests here."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import zipfile
from functools import cache
from pathlib import Path

from .conftest import PYTHON, REPO

BUNDLE_ZIP_NAME = "aiflash-portrait-ntire2026.zip"


def run_cli(*args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    """``aiflash ARGS`` in a subprocess, as a person runs it."""
    return subprocess.run([PYTHON, "-m", "aiflash", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def _scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="aiflash-bundle-tests."))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@cache
def built_bundle() -> Path:
    """dist/<name>.zip built once from this checkout with the sample data (the CLI, as `make bundle`)."""
    out = _scratch() / "dist"
    result = run_cli("bundle", "--source", REPO, "--output-dir", out)
    assert result.returncode == 0, result.stderr + result.stdout
    return out / BUNDLE_ZIP_NAME


@cache
def unpacked_bundle() -> Path:
    """The built bundle extracted (read-only use: copy it before changing anything)."""
    target = _scratch() / "unpacked"
    with zipfile.ZipFile(built_bundle()) as archive:
        archive.extractall(target)
    return target


def zip_tree(folder: Path, archive: Path, prefix: str = "", extra: dict[str, bytes] | None = None,
             skip: tuple[str, ...] = ()) -> Path:
    """Zip a folder's files under ``prefix`` (e.g. "results/" for a wrapping folder), plus ``extra``
    entries (name -> bytes), leaving out files whose name is in ``skip``."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.name in skip or "__pycache__" in path.parts:
                continue
            out.write(path, prefix + path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return archive


def sample_results() -> Path:
    """The result images the bundle ships as the Phase 2 solution (one PNG per sample input)."""
    return unpacked_bundle() / "solutions" / "results_phase2"


def sample_code_zip(name: str) -> Path:
    """A sample code submission as the starting kit ships it (model.py at the zip root)."""
    return unpacked_bundle() / "starting_kit" / "sample_submissions" / f"{name}.zip"


def sample_code_zip_without_metadata(name: str, target: Path) -> Path:
    """The sample code submission ``name`` with its ``metadata`` file left out, written to ``target``."""
    with zipfile.ZipFile(sample_code_zip(name)) as source, zipfile.ZipFile(target, "w") as out:
        for member in source.namelist():
            if member != "metadata":
                out.writestr(member, source.read(member))
    return target
