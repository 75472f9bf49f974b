"""`aiflash forensics`: calibrate the content check of the no-rescale guard."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..atomic import write_text
from ..errors import CalibrationError
from ..forensics import MEASURES, ForensicsSettings
from ..forensics_calibration import (
    CALIBRATION_PHOTOS,
    calibrate,
    natural_photo_set,
    write_section,
    write_settings,
)
from ..profile import load_profile

_REPO_LEARNED = Path(__file__).resolve().parents[2] / "tests" / "rescale_corpus" / "learned"


def run_calibrate(args: argparse.Namespace) -> int:
    if args.probe:
        return run_probe_calibrate(args)
    learned = args.learned
    with tempfile.TemporaryDirectory(prefix="aiflash-calibration-") as scratch:
        if args.natural_photos:
            if learned is None and _REPO_LEARNED.is_dir():
                learned = _REPO_LEARNED
            target = args.keep or Path(scratch)
            input_dir, output_dirs = natural_photo_set(target, args.sample, learned_dir=learned)
            models = f" + the learned models of {learned}" if learned else ""
            print(f"Calibration set: scikit-image photographs ({', '.join(CALIBRATION_PHOTOS)}) at "
                  f"native size{' + ' + str(args.sample) if args.sample else ''}, made low-light, in "
                  f"{target}; honest operators{models}")
        else:
            if args.inputs is None or not args.outputs:
                raise CalibrationError(
                    "give --inputs DIR and one or more OUTPUT folders, or --natural-photos.")
            input_dir, output_dirs = args.inputs, args.outputs
        result = calibrate(input_dir, output_dirs, tuple(args.voting))
    print(result.summary())
    if args.write:
        write_settings(args.write, result.suggested)
        print(f"Wrote the forensics section of {args.write}; use it with --profile {args.write}")
    return 0


def run_probe_calibrate(args: argparse.Namespace) -> int:
    from ..probe_calibration import calibrate_probe, probe_photo_set

    if not args.honest:
        raise CalibrationError("--probe needs honest code submissions: --honest FOLDER [FOLDER ...] "
                               "(and cheating ones with --cheat to check the margin).")
    for folder in [*args.honest, *(args.cheat or [])]:
        if not (folder / "model.py").is_file():
            raise CalibrationError(f"{folder}: no model.py there; give unpacked code submissions.")
    base = load_profile(args.profile).probe
    with tempfile.TemporaryDirectory(prefix="aiflash-probe-calibration-") as scratch:
        data = args.data
        if data is None:
            data = probe_photo_set(args.keep or Path(scratch), CALIBRATION_PHOTOS, args.sample)
            print(f"Probe calibration set: scikit-image photographs ({', '.join(CALIBRATION_PHOTOS)}) at "
                  f"native size made low-light{' + ' + str(args.sample) if args.sample else ''}, in {data}")
        result = calibrate_probe(list(args.honest), list(args.cheat or []), data, base, seed=args.seed)
    print(result.summary())
    if args.rows:
        write_text(args.rows, result.rows_csv())
        print(f"Wrote every judged group of probed images, with its measures, to {args.rows}")
    if args.write:
        write_section(args.write, "probe", result.suggested.as_record())
        print(f"Wrote the probe section of {args.write}; use it with --profile {args.write}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forensics", help="calibrate the resampling forensics (content check) of the no-rescale guard")
    commands = parser.add_subparsers(dest="forensics_command", required=True, metavar="ACTION")
    calib = commands.add_parser(
        "calibrate", help="measure honest outputs against their inputs and suggest thresholds",
        description="Print the distributions of the forensics measures over honest outputs (made at "
                    "full resolution: baselines, earlier-phase submissions) and suggest thresholds with "
                    "the false-flag rate they have on this set. Outputs are matched to inputs by stem.")
    calib.add_argument("outputs", type=Path, nargs="*", help="folders of honest outputs")
    calib.add_argument("--inputs", type=Path, help="folder of the inputs the outputs were made from")
    calib.add_argument("--natural-photos", action="store_true",
                       help="build and use the shipped calibration set (scikit-image photographs at native "
                            "size made low-light, restored by honest operators and the learned corpus "
                            "models; none of them is a photograph the tests check)")
    calib.add_argument("--sample", type=Path, default=None,
                       help="a sample data folder (input/, gt/) added to --natural-photos (default: none, "
                            "the tests check the repository's sample data)")
    calib.add_argument("--learned", type=Path, default=None,
                       help="learned corpus folder whose models restore the --natural-photos captures "
                            "(default: the repository's tests/rescale_corpus/learned when present)")
    calib.add_argument("--keep", type=Path,
                       help="with --natural-photos: write the set here, not to a temp folder")
    calib.add_argument("--voting", nargs="+", choices=MEASURES, default=list(ForensicsSettings.voting),
                       help="measures that may flag an image (default: "
                            f"{' '.join(ForensicsSettings.voting)})")
    calib.add_argument("--write", type=Path, metavar="PROFILE.yaml",
                       help="write the suggested thresholds into this profile (created if missing)")
    calib.add_argument("--probe", action="store_true",
                       help="calibrate the resolution probe instead: run --honest and --cheat code "
                            "submissions through the ingestion program with every input probed")
    calib.add_argument("--honest", type=Path, nargs="+", metavar="FOLDER",
                       help="with --probe: unpacked code submissions known to work at full resolution")
    calib.add_argument("--cheat", type=Path, nargs="+", metavar="FOLDER",
                       help="with --probe: unpacked code submissions that reduce the resolution")
    calib.add_argument("--data", type=Path,
                       help="with --probe: input/ + mask_personmask/ to probe on (default: scikit-image "
                            "calibration photographs made low-light; --sample adds a data folder)")
    calib.add_argument("--profile", default="default",
                       help="with --probe: the profile whose probe settings are the starting point")
    calib.add_argument("--seed", type=int, default=0, help="with --probe: the probe patterns' seed")
    calib.add_argument("--rows", type=Path, metavar="ROWS.csv",
                       help="with --probe: also write every judged group of probed images with its "
                            "measures (one row per submission and pair of images)")
    calib.set_defaults(handler=run_calibrate)
