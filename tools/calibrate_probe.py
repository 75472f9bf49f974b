#!/usr/bin/env python3
"""The probe's shipped thresholds: the corpora through ``aiflash forensics calibrate --probe``.

Lays out one unpacked code submission per corpus configuration (tests/rescale_corpus: the learned
honest designs, the hand-made honest ones, the sample submissions; the cheats at reduced scales,
partial regions, the learned x2 upsampler and the probe evasions), then runs the calibration on
scikit-image photographs the tests do not use (forensics_calibration.CALIBRATION_PHOTOS), made
low-light. Prints the numbers that ``aiflash/profiles/default.yaml``'s ``probe:`` section ships
(copied there by hand: rewriting that file would drop its comments); ``--write FILE`` writes them
into a profile of its own.

    python tools/calibrate_probe.py [--write my.yaml] [--rows rows.csv] [--only-sample]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiflash.cli import main as aiflash  # noqa: E402

CORPUS = REPO / "tests" / "rescale_corpus"
SAMPLE_MODELS = ("identity", "flash_baseline", "tiny_cnn", "folder_api")
LEARNED = ("esdnet", "unet_ps", "convtranspose", "tiled", "gain_map", "bilateral_grid", "lut3d",
           "denoiser", "unet_bilinear")
HAND_MADE = ("unet", "thumbnail", "fast_guided")
# (name, corpus.json) of each cheat: reduced resolution at several scales and places, a learned
# upsampler, and the probe evasions (whose first-seen input is made at half resolution).
CHEATS = (
    ("numpy_stride_repeat_x2", {"mechanism": "numpy_stride_repeat", "factor": 2, "after": "none"}),
    ("scipy_zoom_x1.5_noise", {"mechanism": "scipy_ndimage_zoom", "factor": 1.5, "after": "noise"}),
    ("pil_transform_x4_jpeg", {"mechanism": "pil_transform", "factor": 4, "after": "jpeg"}),
    ("cv2_resize_x1.25", {"mechanism": "cv2_resize", "factor": 1.25, "after": "none"}),
    ("grid_sample_x1.11", {"mechanism": "grid_sample", "factor": 10 / 9, "after": "sharpen"}),
    ("cv2_resize_x1.11_median", {"mechanism": "cv2_resize", "factor": 10 / 9, "after": "median"}),
    ("pil_core_resize_x1.25_median", {"mechanism": "pil_core_resize", "factor": 1.25, "after": "median"}),
    ("signal_resample_x1.11", {"mechanism": "scipy_signal_resample", "factor": 10 / 9, "after": "none"}),
    ("torchscript_x1.11", {"mechanism": "torchscript", "factor": 10 / 9, "after": "none"}),
    ("learned_x2", {"mechanism": "learned_x2", "factor": 2, "after": "none"}),
    ("rotate_scale_x2", {"mechanism": "rotate_scale", "factor": 2, "after": "none"}),
    ("jittered_grid_x2", {"mechanism": "jittered_grid", "factor": 2, "after": "jpeg"}),
    ("background_x2", {"mechanism": "cv2_resize", "factor": 2, "after": "none", "region": "background"}),
    ("person_x2", {"mechanism": "cv2_resize", "factor": 2, "after": "none", "region": "person"}),
    ("near_duplicate", {"mechanism": "cv2_resize", "factor": 2, "after": "none",
                        "evasion": "near_duplicate"}),
    ("cached", {"mechanism": "cv2_resize", "factor": 2, "after": "none", "evasion": "cached"}),
    ("constant", {"mechanism": "cv2_resize", "factor": 2, "after": "none", "evasion": "constant"}),
)


def lay_out(root: Path, only_sample: bool) -> tuple[list[Path], list[Path]]:
    honest = []
    for name in SAMPLE_MODELS:
        shutil.copytree(REPO / "sample_submissions" / name, root / "honest" / name)
        honest.append(root / "honest" / name)
    if not only_sample:
        for source, kinds in (("learned", LEARNED), ("honest", HAND_MADE)):
            for kind in kinds:
                folder = root / "honest" / kind
                shutil.copytree(CORPUS / source, folder)
                (folder / "corpus.json").write_text(json.dumps({"kind": kind}))
                honest.append(folder)
    cheats = []
    for name, config in CHEATS:
        folder = root / "cheat" / name
        shutil.copytree(CORPUS / "cheat", folder)
        (folder / "corpus.json").write_text(json.dumps(config))
        cheats.append(folder)
    return honest, cheats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the suggested probe section into this profile")
    parser.add_argument("--only-sample", action="store_true", help="honest: the sample submissions only")
    parser.add_argument("--rows", type=Path, help="write every judged pair of probed images to this CSV")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calibrate-probe-") as tmp:
        honest, cheats = lay_out(Path(tmp), args.only_sample)
        command = ["forensics", "calibrate", "--probe", "--honest", *map(str, honest),
                   "--cheat", *map(str, cheats)]
        if args.write:
            command += ["--write", str(args.write)]
        if args.rows:
            command += ["--rows", str(args.rows)]
        return aiflash(command)


if __name__ == "__main__":
    sys.exit(main())
