"""What the content check says on the rescale corpus: each honest learned model and each cheat.

Runs ``aiflash.forensics.screen`` (the profile's settings) on the outputs of every honest model of
``tests/rescale_corpus/learned`` (and the honest corpus and sample submissions) and on the cheats
of ``tests/rescale_corpus/cheat``, over the sample inputs and low-light captures of the
photographs the tests check (``TEST_PHOTOS``: never trained or calibrated on), and prints one row
per model or cheat: images flagged, and the range of every measure.

    .venv/bin/python tools/screen_guard_corpus.py [--profile P] [--only honest|cheats] [--photos]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiflash.forensics import MEASURES, screen  # noqa: E402
from aiflash.forensics_calibration import TEST_PHOTOS, capture_of, photo  # noqa: E402
from aiflash.profile import load_profile  # noqa: E402

CORPUS = REPO / "tests" / "rescale_corpus"
SAMPLE = REPO / "reference_data" / "sample"
CLASSIC = ("cv2_resize", "aten_upsample", "pil_core_resize", "torchscript")  # bicubic, Lanczos, area
FACTORS = (10 / 9, 1.25, 2, 4)
AFTERS = ("none", "noise", "sharpen", "jpeg", "median")


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(with_photos: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (input RGB, person mask): the sample inputs, then the test photographs' captures."""
    found = {}
    for path in sorted((SAMPLE / "input").glob("*.jpg")):
        mask = cv2.imread(str(SAMPLE / "mask_personmask" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE) >= 128
        found[path.stem] = (cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), mask)
    if with_photos:
        rng = np.random.default_rng(7)
        for name in TEST_PHOTOS:
            capture = capture_of(photo(name), rng)
            found[name] = (capture, np.zeros(capture.shape[:2], bool))
    return found


def honest_models() -> dict:
    """name -> restore(image, mask) for every honest design of the corpus and sample submissions."""
    import json
    import shutil
    import tempfile

    learned = load_module(CORPUS / "learned" / "model.py", "corpus_learned")
    honest = load_module(CORPUS / "honest" / "model.py", "corpus_honest")
    models = {}
    scratch = Path(tempfile.mkdtemp(prefix="screen-corpus-"))
    for kind in learned.KINDS:
        folder = scratch / kind
        shutil.copytree(CORPUS / "learned", folder)
        (folder / "corpus.json").write_text(json.dumps({"kind": kind}))
        models[kind] = learned.Model(str(folder), "cpu").restore
    for kind in honest.KINDS:
        models[kind] = lambda image, mask, kind=kind: honest.honest(image, kind, mask)
    baseline = load_module(REPO / "sample_submissions" / "flash_baseline" / "model.py", "flash_baseline")
    tiny = load_module(REPO / "sample_submissions" / "tiny_cnn" / "model.py", "tiny_cnn")
    models["flash_baseline"] = baseline.Model("", "cpu").restore
    models["tiny_cnn"] = tiny.Model(str(REPO / "sample_submissions" / "tiny_cnn"), "cpu").restore
    return models


def cheats() -> dict:
    """name -> restore(image, mask): the classic-interpolation family at every factor and
    after-effect, and the new mechanisms (learned x2, rotation, jittered grid, partial regions)."""
    cheat = load_module(CORPUS / "cheat" / "model.py", "corpus_cheat")
    found = {}
    for mechanism in CLASSIC + ("rotate_scale", "jittered_grid", "scipy_signal_resample"):
        for factor in FACTORS:
            for after in AFTERS:
                found[f"{mechanism} /{factor:.3g} {after}"] = (
                    lambda image, mask, m=mechanism, f=factor, a=after: cheat.cheat(image, m, f, a))
    for after in AFTERS:
        found[f"learned_x2 /2 {after}"] = lambda image, mask, a=after: cheat.cheat(image, "learned_x2", 2, a)
    for region in ("background", "person"):
        for factor in (2, 1.25):
            found[f"cv2_resize /{factor:.3g} none region={region}"] = (
                lambda image, mask, f=factor, r=region: cheat.cheat(image, "cv2_resize", f, "none", region=r,
                                                                    person_mask=mask))
    return found


def to_uint8(output) -> np.ndarray:
    output = np.asarray(output)
    return output if output.dtype == np.uint8 else np.round(np.clip(output, 0, 1) * 255).astype(np.uint8)


def table(models: dict, images: dict, settings) -> list[dict]:
    import torch

    rows = []
    for name, restore in models.items():
        started = time.perf_counter()
        results = []
        for image, mask in images.values():
            with torch.no_grad():
                results.append(screen(to_uint8(restore(image, mask)), image, mask, settings))
        row = {"model": name, "flagged": sum(r.verdict == "flagged" for r in results), "images": len(results),
               "seconds": time.perf_counter() - started}
        for measure in MEASURES:
            values = [r.measures[measure] for r in results]
            row[measure] = (min(values), max(values))
        rows.append(row)
        print(f"{name:40s} flagged {row['flagged']}/{row['images']}  "
              + "  ".join(f"{m} {lo:.2f}..{hi:.2f}" for m, (lo, hi) in ((m, row[m]) for m in MEASURES)),
              flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=None, help="scoring profile (default: the default profile)")
    parser.add_argument("--only", choices=("honest", "cheats"))
    parser.add_argument("--photos", action="store_true", help="add the test photographs' captures")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    settings = load_profile(args.profile).forensics
    images = inputs(args.photos)
    print(f"settings: {settings.as_record()}\ninputs: {', '.join(images)}")
    if args.only != "cheats":
        print("-- honest models")
        table(honest_models(), images, settings)
    if args.only != "honest":
        print("-- cheats")
        table(cheats(), images, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
