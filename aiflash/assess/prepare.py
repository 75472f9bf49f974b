"""``assess prepare``: Top-N teams, K seeded images, per-image label permutations, one voting page
per expert and the sealed key (written apart from the pages).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..atomic import atomic_open, write_text
from ..discovery import find_predictions
from ..errors import AiflashError
from ..images import read_rgb
from ..leaderboard import columns as C
from ..leaderboard.ranking import ranked
from . import page
from .model import TOP, VOTES_FORMAT, AssessmentError, Key, PageRecord, labels_for

DEFAULT_TITLE = "AI Flash Portrait — expert assessment"


@dataclass(frozen=True)
class PrepareOptions:
    top: int = 12
    images: int = 50
    experts: int = 5
    seed: int | None = None  # None: a fresh random seed (recorded in the key)
    display_size: int = 640  # long side of the grid copies (the zoom shows full resolution)
    display_quality: int = 85
    zoom_quality: int = 90
    title: str = DEFAULT_TITLE
    force: bool = False  # overwrite an existing key


@dataclass(frozen=True)
class Prepared:
    key: Key
    key_path: Path
    pages: tuple[Path, ...]


def select_teams(objective: pd.DataFrame, top: int) -> list[str]:
    """The best ``top`` teams by Score (ties by LPIPS_person), disqualified teams left out."""
    eligible = ranked(objective[~objective[C.DISQUALIFIED].astype(bool)])
    teams = eligible[C.TEAM].tolist()[:top]
    if len(teams) < TOP + 1:
        raise AssessmentError(f"only {len(teams)} eligible team(s); a Top-{TOP} vote needs at least "
                              f"{TOP + 1}.")
    return teams


def _images_of(folder: Path, what: str) -> dict[str, Path]:
    try:
        found = find_predictions(folder)
    except AiflashError as exc:
        raise AssessmentError(f"{what}: {exc}") from exc
    dups = sorted(s for s, paths in found.items() if len(paths) > 1)
    if dups:
        raise AssessmentError(f"{folder}: {what} has several files for image(s) {', '.join(dups[:5])}.")
    return {stem: paths[0] for stem, paths in found.items()}


def team_images(results_dir: Path, teams: list[str]) -> dict[str, dict[str, Path]]:
    """Each team's result images by stem, from ``results_dir/<team>/``."""
    missing = [t for t in teams if not (results_dir / t).is_dir()]
    if missing:
        present = sorted(p.name for p in results_dir.iterdir() if p.is_dir()) if results_dir.is_dir() else []
        raise AssessmentError(
            f"{results_dir}: no result folder for team(s) {', '.join(missing)} (expected "
            f"{results_dir}/<team>/ named exactly as in the scores; found: {', '.join(present) or 'none'}).")
    return {t: _images_of(results_dir / t, f"results of team {t}") for t in teams}


def pick_images(inputs: dict[str, Path], results: dict[str, dict[str, Path]], count: int,
                rng: np.random.Generator) -> list[str]:
    """``count`` image ids, drawn with ``rng`` among those every team has a result for."""
    common = set(inputs)
    for images in results.values():
        common &= set(images)
    if len(common) < count:
        short = {t: len(set(inputs) - set(imgs)) for t, imgs in results.items() if set(inputs) - set(imgs)}
        detail = "; ".join(f"{t} lacks {n}" for t, n in short.items())
        raise AssessmentError(
            f"only {len(common)} image(s) have an input and a result from every team, fewer than "
            f"--images {count}" + (f" ({detail})" if detail else "") + ".")
    return sorted(rng.choice(sorted(common), size=count, replace=False).tolist())


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    if not ok:
        raise AssessmentError("JPEG encoding failed")
    return data.tobytes()


def encode_picture(path: Path, options: PrepareOptions) -> tuple[bytes, bytes, tuple[int, int]]:
    """(grid copy, full-resolution copy, (width, height)) of one picture, both JPEG."""
    rgb, _ = read_rgb(path, error=AssessmentError)
    height, width = rgb.shape[:2]
    scale = min(1.0, options.display_size / max(height, width))
    small = rgb if scale >= 1.0 else cv2.resize(
        rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    return _jpeg(small, options.display_quality), _jpeg(rgb, options.zoom_quality), (width, height)


def _page_id(assessment_id: str, expert: str, order: list[str], labels: dict[str, dict[str, str]]) -> str:
    text = "|".join([assessment_id, expert, ",".join(order),
                     ";".join(f"{i}:{''.join(sorted(labels[i]))}" for i in order)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare(objective: pd.DataFrame, results_dir: Path, inputs_dir: Path, pages_dir: Path,
            key_path: Path, options: PrepareOptions = PrepareOptions()) -> Prepared:
    pages_dir, key_path = Path(pages_dir), Path(key_path)
    if key_path.resolve().is_relative_to(pages_dir.resolve()):
        raise AssessmentError(f"{key_path}: the sealed key must not be inside the pages folder "
                              f"{pages_dir} (the pages go to the experts); write it elsewhere.")
    if key_path.exists() and not options.force:
        raise AssessmentError(f"{key_path}: a key already exists (pages already sent out?); "
                              f"use --force to replace it.")
    if options.images < 1 or options.experts < 1:
        raise AssessmentError("--images and --experts must be at least 1.")
    seed = options.seed if options.seed is not None else secrets.randbits(32)
    rng = np.random.default_rng(seed)
    teams = select_teams(objective, options.top)
    letters = labels_for(len(teams))
    results = team_images(results_dir, teams)
    inputs = _images_of(inputs_dir, "the input folder")
    chosen = pick_images(inputs, results, options.images, rng)
    labels = {}
    for image in chosen:
        permutation = rng.permutation(len(teams))
        labels[image] = {letter: teams[int(p)] for letter, p in zip(letters, permutation, strict=True)}
    orders = {f"E{n}": [chosen[int(i)] for i in rng.permutation(len(chosen))]
              for n in range(1, options.experts + 1)}
    assessment_id = secrets.token_hex(6)

    pages_dir.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiflash-assess-") as scratch:
        blocks = _write_blocks(Path(scratch), chosen, labels, inputs, results, letters, options)
        records, paths = [], []
        for expert, order in orders.items():
            page_id = _page_id(assessment_id, expert, order, labels)
            config = {"assessment_id": assessment_id, "page_id": page_id, "expert": expert,
                      "order": order, "top": TOP, "votes_format": VOTES_FORMAT}
            path = pages_dir / f"expert-{expert}.html"
            digest = _write_page(path, config, options.title, [blocks[i] for i in order])
            records.append(PageRecord(expert, path.name, page_id, digest, tuple(order)))
            paths.append(path)
    key = Key(assessment_id=assessment_id, seed=seed, teams=tuple(teams), images=tuple(chosen),
              labels=labels, pages=tuple(records), title=options.title,
              created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    write_text(key_path, key.to_json())
    return Prepared(key, key_path, tuple(paths))


def _write_blocks(scratch: Path, chosen: list[str], labels: dict[str, dict[str, str]],
                  inputs: dict[str, Path], results: dict[str, dict[str, Path]], letters: list[str],
                  options: PrepareOptions) -> dict[str, Path]:
    """Every image's HTML block in a scratch file (pictures encoded once, shared by all pages)."""
    workers = max(1, min(4, os.cpu_count() or 1))
    blocks = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") as pool:
        for image in chosen:
            sources = {"input": inputs[image]} | {
                letter: results[labels[image][letter]][image] for letter in letters}
            encoded = dict(zip(sources, pool.map(lambda p: encode_picture(p, options), sources.values()),
                               strict=True))
            size = encoded["input"][2]
            for letter in letters:
                if encoded[letter][2] != size:
                    team = labels[image][letter]
                    raise AssessmentError(
                        f"{results[team][image]}: result is {encoded[letter][2][0]}x{encoded[letter][2][1]} "
                        f"but the input {inputs[image].name} is {size[0]}x{size[1]}.")
            block = page.image_block(image, letters, encoded["input"][:2],
                                     {k: v[:2] for k, v in encoded.items() if k != "input"}, size)
            blocks[image] = scratch / f"{len(blocks):04d}.html"
            blocks[image].write_text(block, encoding="utf-8")
    return blocks


def _write_page(path: Path, config: dict, title: str, blocks: list[Path]) -> str:
    """Stream one page to disk; returns its sha256."""
    digest = hashlib.sha256()
    with atomic_open(path) as out:
        def emit(data: bytes) -> None:
            digest.update(data)
            out.write(data)

        emit(page.head(config, title).encode("utf-8"))
        for block in blocks:
            emit(block.read_bytes())
        emit(page.tail().encode("utf-8"))
    return digest.hexdigest()
