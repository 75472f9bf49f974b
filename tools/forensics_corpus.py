#!/usr/bin/env python3
"""The whole rescale corpus through the real ingestion program: mechanism x factor -> verdicts.

For every cheating mechanism of ``tests/rescale_corpus/cheat/model.py`` and every factor it
supports (1.5, 2, 4), one run of ``ingestion_program/ingestion.py`` (a fresh process, as Codabench
runs it) on the four 1K sample inputs, each image with a different after-effect (none, noise,
sharpen, jpeg); then the honest models. Prints a table of the final ``rescale_verdict`` counts
(F flagged, R rejected, C clean) with which layer decided (audit / content check).

    python tools/forensics_corpus.py [--only MECHANISM ...] [--factors 2 4]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "reference_data" / "sample"
CORPUS = REPO / "tests" / "rescale_corpus"
AFTER = ("none", "noise", "sharpen", "jpeg")


def load_cheat():
    spec = importlib.util.spec_from_file_location("corpus_cheat", CORPUS / "cheat" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def input_data(root: Path) -> Path:
    for sub in ("input", "mask_personmask"):
        shutil.copytree(SAMPLE / sub, root / "input_data" / sub)
    return root / "input_data"


def digests() -> dict[str, str]:
    out = {}
    for path in sorted((SAMPLE / "input").iterdir()):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        out[path.stem] = hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()
    return out


def ingest(inputs: Path, submission: Path, output: Path) -> dict:
    run = subprocess.run([sys.executable, "ingestion.py", "--input-dir", str(inputs), "--submission-dir",
                          str(submission), "--output-dir", str(output)], cwd=REPO / "ingestion_program",
                         capture_output=True, text=True, timeout=900)
    record = output / "ingestion.json"
    if record.is_file():  # also when every image was rejected and the program failed the run
        return json.loads(record.read_text())
    return {"error": run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"}


def cell(record: dict) -> str:
    if "error" in record:
        return "ERROR"
    counts = {"C": 0, "F": 0, "R": 0}
    layers = set()
    for entry in record["images"]:
        counts[entry["rescale_verdict"][0].upper()] += 1
        if entry.get("audit_verdict", "clean") != "clean":
            layers.add("audit")
        if entry.get("content_verdict") == "flagged":
            layers.add("content")
    text = " ".join(f"{n}{k}" for k, n in counts.items() if n)
    return f"{text} ({'+'.join(sorted(layers)) or '-'})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="mechanisms to run (default: all)")
    parser.add_argument("--factors", nargs="*", type=float, default=[1.5, 2, 4])
    parser.add_argument("--no-honest", action="store_true")
    args = parser.parse_args()
    cheat = load_cheat()
    stems = digests()
    with tempfile.TemporaryDirectory(prefix="aiflash-corpus-") as scratch:
        root = Path(scratch)
        inputs = input_data(root)
        print(f"{'mechanism':<27}" + "".join(f"{f'{f:g}x':<24}" for f in args.factors), flush=True)
        for mechanism in args.only or list(cheat.MECHANISMS):
            cells = []
            for factor in args.factors:
                if mechanism in cheat.INTEGER_ONLY and not float(factor).is_integer():
                    cells.append("n/a")
                    continue
                factor = int(factor) if float(factor).is_integer() else factor
                submission = root / f"{mechanism}_{factor}"
                shutil.copytree(CORPUS / "cheat", submission)
                config = {"images": {digest: {"mechanism": mechanism, "factor": factor, "after": after}
                                     for digest, after in zip(stems.values(), AFTER, strict=False)}}
                (submission / "corpus.json").write_text(json.dumps(config))
                cells.append(cell(ingest(inputs, submission, root / f"out_{mechanism}_{factor}")))
            print(f"{mechanism:<27}" + "".join(f"{c:<24}" for c in cells), flush=True)
        if args.no_honest:
            return
        print("honest models (4 images each):", flush=True)
        honest = [(kind, CORPUS / "honest", {"kind": kind}) for kind in ("unet", "thumbnail", "fast_guided")]
        honest += [(name, REPO / "sample_submissions" / name, None)
                   for name in ("identity", "flash_baseline", "tiny_cnn")]
        for name, folder, config in honest:
            submission = root / f"honest_{name}"
            shutil.copytree(folder, submission)
            if config:
                (submission / "corpus.json").write_text(json.dumps(config))
            print(f"  {name:<25}{cell(ingest(inputs, submission, root / f'out_honest_{name}'))}", flush=True)


if __name__ == "__main__":
    main()
