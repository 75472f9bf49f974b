"""Reproduction runs the built bundle's programs (as online), records the bundle's sha256 and both
aiflash versions, and refuses a bundle whose programs do not match the image's version, naming
both, unless told otherwise. The container runner asks the image itself (a stand-in docker here)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import zipfile
from pathlib import Path

import pytest

from aiflash.bundle import DOCKER_IMAGE
from aiflash.cli import main
from aiflash.reproduce.errors import ReproductionError
from aiflash.reproduce.pipeline import ReproductionConfig, run
from aiflash.reproduce.programs import unpack_programs
from aiflash.reproduce.runners import ContainerRunner

from .conftest import SAMPLE
from .test_bundle_helpers import built_bundle
from .test_reproduce_container import fake_docker, world  # noqa: F401  (fixtures)

INSTALLED = importlib.metadata.version("aiflash")
OLD = "0.0.9"


def _with_version(bundle: Path, target: Path, version: str) -> Path:
    """A copy of the bundle whose programs' aiflash copies say ``version``."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("_program/aiflash/__init__.py"):
                data = re.sub(rb'__version__ = "[^"]+"', f'__version__ = "{version}"'.encode(), data)
            out.writestr(info, data)
    return target


def _broken_team(tmp_path: Path) -> Path:
    """One team whose zip is unusable: the run gets past the version check without running code."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "broken.zip").write_bytes(b"not a zip")
    return submissions


def test_unpacks_only_the_code_phase_programs_with_sha256_and_version(tmp_path):
    bundle = built_bundle()
    unpacked = unpack_programs(bundle, tmp_path / "programs")
    assert unpacked.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    assert unpacked.version == INSTALLED
    for folder in (unpacked.programs.ingestion, unpacked.programs.scoring):
        assert (folder / "metadata.yaml").is_file() and (folder / "aiflash" / "__init__.py").is_file()
    (root,) = (tmp_path / "programs").iterdir()
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "ingestion_program", "scoring_program"]  # no data unpacked


def test_version_mismatch_is_refused_naming_both_versions(tmp_path, capsys):
    bad = _with_version(built_bundle(), tmp_path / "old-bundle.zip", OLD)
    command = ["reproduce", "--runner", "local", "--gpus", "none",
               "--submissions", str(_broken_team(tmp_path)),
               "--data", str(SAMPLE), "--output-dir", str(tmp_path / "out"), "--bundle", str(bad)]
    assert main(command) != 0
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("error: ")
    assert f"aiflash {OLD}" in error and f"aiflash {INSTALLED}" in error
    assert "--allow-version-mismatch" in error
    assert not (tmp_path / "out" / "teams").exists()  # refused before any team ran

    assert main(command + ["--allow-version-mismatch"]) == 0
    meta = json.loads((tmp_path / "out" / "reproduction.json").read_text())["meta"]
    assert meta["bundle_aiflash_version"] == OLD and meta["image_aiflash_version"] == INSTALLED
    assert meta["bundle_sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest()
    assert "--allow-version-mismatch" in meta["version_check"]


def test_missing_bundle_says_how_to_build_it(tmp_path, capsys):
    code = main(["reproduce", "--runner", "local", "--submissions", str(_broken_team(tmp_path)),
                 "--data", str(SAMPLE), "--bundle", str(tmp_path / "nowhere.zip")])
    assert code != 0 and "make bundle" in capsys.readouterr().err


def test_container_runner_asks_the_image_for_its_version(world, fake_docker, monkeypatch, tmp_path):  # noqa: F811
    docker, log = fake_docker
    unpacked = unpack_programs(built_bundle(), tmp_path / "programs")
    monkeypatch.setenv("FAKE_DOCKER_AIFLASH", "9.9.9")
    config = ReproductionConfig(submissions=world["submissions"], data=world["data"], output_dir=world["out"],
                                programs=unpacked.programs, bundle=unpacked, slots=("0",),
                                runner=ContainerRunner(DOCKER_IMAGE, docker=str(docker)))
    with pytest.raises(ReproductionError) as refused:
        run(config, log=lambda message: None)
    assert f"image {DOCKER_IMAGE} has aiflash 9.9.9" in str(refused.value)
    assert f"aiflash {INSTALLED}" in str(refused.value)
    probe = json.loads(Path(str(log) + ".probe").read_text())
    assert probe[:1] == ["run"] and "--network" in probe and probe[probe.index("--network") + 1] == "none"
    assert probe[probe.index("--entrypoint") + 1] == "python3" and DOCKER_IMAGE in probe
    assert not log.exists()  # no team's container ran
