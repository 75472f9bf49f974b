"""Calibration of the resolution probe: honest and cheating submissions through the real ingestion
program, every input probed, and thresholds suggested from what they measured.

``aiflash forensics calibrate --probe --honest SUB... --cheat SUB...`` runs each submission's model
with ``aiflash.ingestion.run_ingestion`` (a worker process, the sandbox, the audit, exactly as the
ingestion program does) on a data folder (``input/`` + ``mask_personmask/``; by default
photographs that ship with scikit-image, made low-light as the sample generator does, with a
portrait-shaped mask: forensics_calibration.CALIBRATION_PHOTOS, none of which the tests check),
with the probe on every image. Each image gives its
own response and mismatch; the suggestion puts ``response_min`` between the weakest honest response
and the strongest cheating one, and ``mismatch_max`` above the largest honest excess.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .errors import CalibrationError
from .forensics_calibration import SHOTS, low_light_capture, photo
from .images import is_image_name
from .probe import ProbeMeasurement, ProbeSettings, judge

HONEST, CHEAT = "honest", "cheat"
_RESPONSE_MARGIN = 0.8  # the threshold stays this share of the weakest honest response, at most
_MISMATCH_MARGIN = 0.5  # levels above the largest honest mismatch excess
_ALIAS_MARGIN = 1.5  # the alias threshold is this many times the strongest honest alias
_SPURIOUS_MARGIN = 1.25  # the partner threshold is this many times the strongest honest one


@dataclass(frozen=True)
class ProbeRow:
    """One judged group of probed images (as many as a run probes) of one submission."""

    submission: str
    kind: str  # honest or cheat
    image: str  # the images judged together, "a+b"
    response: float
    weakest: str
    alias: float  # the strongest period-2 mirror gain of a top-band grating
    spurious: float  # the strongest partner component over the top-band response
    independence: float  # the weakest top-band independence of period-2 sampling
    mismatch_excess: float  # mismatch - repeat_factor x what repeated runs differ by
    nondeterminism: float
    run_verdict: str  # the probe's verdict on the whole run, with the settings it ran with


@dataclass(frozen=True)
class ProbeCalibration:
    rows: list[ProbeRow]
    suggested: ProbeSettings
    separated: bool  # every cheat below the suggested threshold or above the mismatch one

    def rows_csv(self) -> str:
        """Every judged group as CSV, one row each, with the verdict the suggested thresholds give."""
        table = pd.DataFrame([asdict(r) for r in self.rows])
        table["flagged_by_suggested"] = [_flags(r, self.suggested) for r in self.rows]
        return table.to_csv(index=False)

    def summary(self) -> str:
        lines = [f"{len(self.rows)} judged groups of probed images (as many as a run probes) from "
                 f"{len({(r.kind, r.submission) for r in self.rows})} submissions"]
        for kind in (HONEST, CHEAT):
            for name in sorted({r.submission for r in self.rows if r.kind == kind}):
                mine = [r for r in self.rows if r.submission == name and r.kind == kind]
                worst = min(mine, key=lambda r: r.response)
                lines.append(f"  {kind:<6} {name:<28} response min {worst.response:.3f} "
                             f"({worst.weakest}), max {max(r.response for r in mine):.3f}; alias max "
                             f"{max(r.alias for r in mine):.3f}; spurious max "
                             f"{max(r.spurious for r in mine):.2f}; independence min "
                             f"{min(r.independence for r in mine):.2f}; mismatch "
                             f"excess max {max(r.mismatch_excess for r in mine):.2f}; nondeterminism max "
                             f"{max(r.nondeterminism for r in mine):.2f}")
        s = self.suggested
        lines += ["suggested probe thresholds:", f"  response_min: {s.response_min:.4f}",
                  f"  alias_max: {s.alias_max:.2f}", f"  spurious_max: {s.spurious_max:.2f}",
                  f"  independence_min: {s.independence_min:.1f}", f"  mismatch_max: {s.mismatch_max:.2f}",
                  f"  calibration: {s.calibration}"]
        passing = [r for r in self.rows if r.kind == CHEAT and not _flags(r, s)]
        for r in passing:
            lines.append(f"  cheating run passing: {r.submission} on {r.image}: response {r.response:.4f}, "
                         f"spurious {r.spurious:.2f}, independence {r.independence:.1f}, alias {r.alias:.3f}")
        if not self.separated:
            lines.append("  WARNING: these submissions cannot all be told apart by the probe (see above)")
        return "\n".join(lines)


def _row(name: str, kind: str, measurements: list[ProbeMeasurement], settings: ProbeSettings,
         run_verdict: str) -> ProbeRow:
    """What the probe would judge on a run that probed these images (``settings.images`` of them)."""
    verdict = judge(measurements, settings)
    excess = max(m.mismatch - settings.repeat_factor * min(m.nondeterminism, m.mismatch_repeat)
                 for m in measurements)
    return ProbeRow(name, kind, "+".join(m.image for m in measurements), float(verdict.response),
                    str(verdict.weakest), float(verdict.alias), float(verdict.spurious),
                    float(verdict.independence), round(excess, 4),
                    max(m.nondeterminism for m in measurements), run_verdict)


def probe_submission(submission: Path, input_dir: Path, settings: ProbeSettings, seed: int = 0,
                     time_budget_s: float = 3300.0) -> tuple[list[ProbeMeasurement], str]:
    """Run one submission through the ingestion program with every input probed (the audit only
    flags, so a cheat it would reject is probed too); its measurements and the run's verdict."""
    from .ingestion.runner import IngestionConfig, run_ingestion

    count = sum(1 for p in (input_dir / "input").iterdir() if is_image_name(p.name))
    with tempfile.TemporaryDirectory(prefix="aiflash-probe-calibration-") as out:
        outcome = run_ingestion(IngestionConfig(
            input_dir=input_dir, submission_dir=submission, output_dir=Path(out), device="cpu",
            probe=replace(settings, images=count), probe_seed=seed, verbose=False, policy="flag",
            time_budget_s=time_budget_s))
    if not outcome.ran:
        raise CalibrationError(f"{submission}: no model.py there; give code submissions (folders).")
    probe = outcome.record["probe"]
    # an image whose patches gave no complete curve (a small one) measured nothing to compare
    measurements = [m for m in (ProbeMeasurement(**m) for m in probe["images"]) if m.gains]
    if not measurements:
        why = "; ".join(probe["failures"] + probe["notes"])
        raise CalibrationError(f"{submission}: nothing could be probed ({why})")
    return measurements, str(probe["verdict"])


def _between(cheats: list[float], honest_edge: float) -> float:
    """A threshold below ``honest_edge`` (the weakest honest value of a measure that cheats keep
    low): halfway, geometrically, to the strongest cheat below it (those above it this measure
    cannot catch), or a tenth of the honest edge when none is within a hundredth of it; at most
    ``_RESPONSE_MARGIN`` of the honest edge."""
    below = [value for value in cheats if value < honest_edge]
    cheat_edge = max(max(below, default=0.0), honest_edge / 100)
    return min(float(np.sqrt(cheat_edge * honest_edge)), _RESPONSE_MARGIN * honest_edge)


def suggest(rows: list[ProbeRow], base: ProbeSettings) -> tuple[ProbeSettings, bool]:
    """``mismatch_max`` 0.5 levels above the largest honest excess; ``alias_max`` and
    ``spurious_max`` 1.5 and 1.25 times the strongest honest value; ``independence_min`` and
    then ``response_min`` each halfway (geometrically) between the weakest honest value and the
    strongest of the cheats below it that the checks before it do not catch, or a tenth of the
    weakest honest value when none is near (at most 0.8 of it)."""
    honest = [r for r in rows if r.kind == HONEST]
    if not honest:
        raise CalibrationError("give at least one honest submission (--honest).")
    largest = max(0.0, max(r.mismatch_excess for r in honest))
    mismatch_max = float(np.ceil((largest + _MISMATCH_MARGIN) * 10) / 10)
    alias_max = float(np.ceil(_ALIAS_MARGIN * max(r.alias for r in honest) * 100) / 100)
    spurious_max = float(np.ceil(_SPURIOUS_MARGIN * max(r.spurious for r in honest) * 100) / 100)
    cheats = [r for r in rows if r.kind == CHEAT and r.mismatch_excess <= mismatch_max
              and r.alias <= alias_max and r.spurious <= spurious_max]
    weakest = min(r.independence for r in honest)
    independence_min = float(np.floor(_between([r.independence for r in cheats], weakest) * 10) / 10)
    cheats = [r for r in cheats if r.independence >= independence_min]
    weakest = min(r.response for r in honest)
    threshold = float(np.floor(_between([r.response for r in cheats], weakest) * 10000) / 10000)
    missed = [r for r in cheats if r.response >= threshold]
    suggested = replace(base, response_min=threshold, alias_max=alias_max, spurious_max=spurious_max,
                        independence_min=independence_min, mismatch_max=mismatch_max)
    flagged = [r for r in honest if _flags(r, suggested)]
    count = len({r.submission for r in honest}), len({r.submission for r in rows if r.kind == CHEAT})
    text = (f"{len(flagged)}/{len(honest)} honest runs flagged, "
            f"{len(missed)}/{len([r for r in rows if r.kind == CHEAT])} cheating runs passing "
            f"({count[0]} honest and {count[1]} cheating submissions)")
    return replace(suggested, calibration=text), not missed


def _flags(row: ProbeRow, s: ProbeSettings) -> bool:
    return (row.response < s.response_min or row.alias > s.alias_max or row.spurious > s.spurious_max
            or row.independence < s.independence_min or row.mismatch_excess > s.mismatch_max)


def calibrate_probe(honest: list[Path], cheats: list[Path], input_dir: Path, base: ProbeSettings,
                    seed: int = 0, progress=print) -> ProbeCalibration:
    """Probe every input with every submission and suggest thresholds."""
    rows: list[ProbeRow] = []
    for kind, folders in ((HONEST, honest), (CHEAT, cheats)):
        for folder in folders:
            measurements, verdict = probe_submission(folder, input_dir, base, seed)
            # one row per run the probe would judge: ``base.images`` images together, as it does
            size = max(1, base.images)
            rows += [_row(folder.name, kind, measurements[i:i + size], base, verdict)
                     for i in range(0, len(measurements), size)]
            progress(f"  {kind} {folder.name}: {len(measurements)} image(s) probed, run verdict {verdict}")
    suggested, separated = suggest(rows, base)
    return ProbeCalibration(rows, suggested, separated)


def portrait_mask(shape: tuple[int, int]) -> np.ndarray:
    """A person-shaped region for a photograph without one: an upright ellipse over the lower
    middle (head and shoulders), about a third of the frame."""
    height, width = shape
    mask = np.zeros(shape, np.uint8)
    centre, axes = (width // 2, int(height * 0.62)), (int(width * 0.3), int(height * 0.45))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    return mask


def probe_photo_set(out: Path, photos: tuple[str, ...], sample_dir: Path | None = None,
                    seed: int = 2026) -> Path:
    """``out/input`` + ``out/mask_personmask``: low-light captures of scikit-image photographs at
    native size (``SHOTS`` each), with a portrait-shaped mask, plus ``sample_dir``'s inputs if given.
    Returns ``out``."""
    rng = np.random.default_rng(seed)
    for sub in ("input", "mask_personmask"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for name in photos:
        image = photo(name)
        for shot in range(SHOTS):
            stem = f"{name}_{shot}"
            (out / "input" / f"{stem}.jpg").write_bytes(low_light_capture(image, rng))
            cv2.imwrite(str(out / "mask_personmask" / f"{stem}.png"), portrait_mask(image.shape[:2]))
    if sample_dir is not None:
        for sub in ("input", "mask_personmask"):
            for path in sorted((sample_dir / sub).iterdir()):
                if is_image_name(path.name):
                    (out / sub / path.name).write_bytes(path.read_bytes())
    return out
