"""What the content check says on the rescale corpus: each honest learned model and each cheat.

Runs ``aiflash.forensics.screen`` (the profile's settings) on the outputs of every honest model of
``tests/rescale_corpus/learned`` (and the honest corpus and sample submissions) and on the cheats
of ``tests/rescale_corpus/cheat``, over the sample inputs and low-light captures of the
photographs the tests check (``TEST_PHOTOS``: never trained or calibrated on), and prints one row
per model or cheat: images flagged, and the range of every measure.

    .venv/bin/python tools/screen_guard_corpus.py [--profile P] [--only honest|cheats] [--photos]
                                                  [--new-cheats] [--every-input]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiflash.forensics import (  # noqa: E402
    MEASURES,
    MINIMA,
    screen,
)
from aiflash.forensics_calibration import TEST_PHOTOS, capture_of, photo  # noqa: E402
from aiflash.profile import load_profile  # noqa: E402

CORPUS = REPO / "tests" / "rescale_corpus"
SAMPLE = REPO / "reference_data" / "sample"
# classic interpolation, by the upsampler each mechanism ends with
CLASSIC = {"bilinear": ("torchscript", "separable_3d", "padded_transposed"),
           "bicubic": ("cv2_resize", "aten_upsample", "grid_sample", "cv2_warp_affine"),
           "lanczos": ("pil_core_resize",),
           "nearest/area": ("numpy_stride_repeat", "avgpool_repeat_interleave")}
FACTORS = (10 / 9, 1.25, 1.5, 2, 4)
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
        models[kind] = ("honest", learned.Model(str(folder), "cpu").restore)
    for kind in honest.KINDS:
        models[kind] = ("honest", lambda image, mask, kind=kind: honest.honest(image, kind, mask))
    baseline = load_module(REPO / "sample_submissions" / "flash_baseline" / "model.py", "flash_baseline")
    tiny = load_module(REPO / "sample_submissions" / "tiny_cnn" / "model.py", "tiny_cnn")
    models["flash_baseline"] = ("honest", baseline.Model("", "cpu").restore)
    models["tiny_cnn"] = ("honest", tiny.Model(str(REPO / "sample_submissions" / "tiny_cnn"), "cpu").restore)
    models["identity"] = ("honest", lambda image, mask: image)
    return models


def cheats(new_only: bool = False) -> dict:
    """name -> (family, restore(image, mask, index)): the classic-interpolation family at every
    factor and after-effect (each combination on one input, in turn), and the other mechanisms:
    Fourier, learned x2, rotation with scale, jittered grid, partial regions."""
    cheat = load_module(CORPUS / "cheat" / "model.py", "corpus_cheat")
    found = {}

    def add(family, name, mechanism, factor, after, region="all"):
        found[name] = (family, lambda image, mask: cheat.cheat(image, mechanism, factor, after, region=region,
                                                               person_mask=mask))

    for kernel, mechanisms in CLASSIC.items():
        for mechanism in mechanisms:
            for factor in FACTORS:
                if mechanism in cheat.INTEGER_ONLY and not float(factor).is_integer():
                    continue
                if new_only and factor not in (10 / 9, 1.25):
                    continue
                for after in AFTERS:
                    add(f"classic {kernel} /{factor:.3g}", f"{mechanism} /{factor:.3g} {after}", mechanism,
                        factor, after)
    for mechanism, factors in (("rotate_scale", (10 / 9, 1.25, 2)), ("jittered_grid", (10 / 9, 1.25, 2)),
                               ("scipy_signal_resample", (10 / 9, 2)), ("learned_x2", (2,))):
        for factor in factors:
            for after in AFTERS:
                add(mechanism, f"{mechanism} /{factor:.3g} {after}", mechanism, factor, after)
    for region in ("background", "person"):  # on the sample inputs only: the photographs have no mask
        for factor in (10 / 9, 2):
            for after in ("none", "noise"):
                add(f"region={region}", f"cv2_resize /{factor:.3g} {after} region={region}", "cv2_resize",
                    factor, after, region)
    return found


def to_uint8(output) -> np.ndarray:
    output = np.asarray(output)
    return output if output.dtype == np.uint8 else np.round(np.clip(output, 0, 1) * 255).astype(np.uint8)


def table(models: dict, images: dict, settings, rotate: bool = False) -> list[dict]:
    """Screen every model (name -> (family, restore)) on every input, or with ``rotate`` on one
    input each, in turn; print one row per model, return one row per output."""
    import torch

    rows, names = [], list(images)
    for index, (name, (family, restore)) in enumerate(models.items()):
        pool = [n for n in names if images[n][1].any()] if family.startswith("region") else names
        chosen = [pool[index % len(pool)]] if rotate else names
        results = []
        for stem in chosen:
            image, mask = images[stem]
            with torch.no_grad():
                result = screen(to_uint8(restore(image, mask)), image, mask, settings)
            results.append(result)
            rows.append({"model": name, "family": family, "image": stem, "verdict": result.verdict,
                         **result.measures})
        flagged = sum(r.verdict == "flagged" for r in results)
        ranges = "  ".join(f"{m} {min(values):.2f}..{max(values):.2f}" for m, values in
                           ((m, [r.measures[m] for r in results]) for m in MEASURES))
        print(f"{name:40s} flagged {flagged}/{len(results)}  {ranges}", flush=True)
    return rows


def separation(honest: list[dict], cheat: list[dict], settings) -> None:
    """Per measure: the most extreme honest value (largest, or smallest for a measure whose
    threshold is a minimum), and per cheat family the other extreme, with the share
    of that family's outputs the settings flag."""
    families = sorted({r["family"] for r in cheat})
    print(f"{'measure':22s} {'honest':>10s}  " + "  ".join(f"{f:>20s}" for f in families))
    for measure in MEASURES:
        pick = min if measure in MINIMA else max  # the honest extreme; the cheats' other extreme
        worst = pick(r[measure] for r in honest)
        mins = ["{:20.3f}".format((max if measure in MINIMA else min)(
            r[measure] for r in cheat if r["family"] == f)) for f in families]
        print(f"{measure:22s} {worst:10.3f}  " + "  ".join(mins))
    def share(rows: list[dict]) -> str:
        return f"{sum(r['verdict'] == 'flagged' for r in rows)}/{len(rows)}"

    print(f"{'flagged':22s} {share(honest):>10s}  "
          + "  ".join(f"{share([r for r in cheat if r['family'] == f]):>20s}" for f in families))
    models = sorted({r["model"] for r in honest if r["verdict"] == "flagged"})
    print(f"honest models with a flagged image: {len(models)} ({', '.join(models) or 'none'})")
    missed = [f"{r['model']} on {r['image']}" for r in cheat if r["verdict"] != "flagged"]
    print(f"cheats not flagged: {len(missed)}" + "".join(f"\n  {m}" for m in missed))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", help="scoring profile (default: default)")
    parser.add_argument("--only", choices=("honest", "cheats"))
    parser.add_argument("--photos", action="store_true", help="add the test photographs' captures")
    parser.add_argument("--new-cheats", action="store_true",
                        help="classic interpolation at scale 0.9 and 0.8 only, plus the other mechanisms")
    parser.add_argument("--every-input", action="store_true",
                        help="screen each cheat on every input, not on one input each in turn")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    settings = load_profile(args.profile).forensics
    images = inputs(args.photos)
    print(f"settings: {settings.as_record()}\ninputs: {', '.join(images)}")
    honest_rows, cheat_rows = [], []
    if args.only != "cheats":
        print("-- honest models (every input)")
        honest_rows = table(honest_models(), images, settings)
        for stem in images:
            path = SAMPLE / "gt" / f"{stem}.png"
            if path.is_file():
                gt = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
                honest_rows += table({f"sample gt {stem}": ("honest", lambda image, mask, gt=gt: gt)},
                                     {stem: images[stem]}, settings)
    if args.only != "honest":
        print("-- cheats (every input)" if args.every_input else "-- cheats (each on one input, in turn)")
        cheat_rows = table(cheats(args.new_cheats), images, settings, rotate=not args.every_input)
    if honest_rows and cheat_rows:
        print("-- separation")
        separation(honest_rows, cheat_rows, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
