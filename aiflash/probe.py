"""The active resolution probe: does the model respond to detail that a reduced resolution cannot carry?

A pipeline that works at a reduced resolution has discarded everything above that resolution's
Nyquist frequency, and nothing after it (no interpolator, no learned upsampler) can respond to
information it never received. The ingestion program owns the inputs, so it measures this
directly, as a resolution test chart measures a camera (ISO 12233 spatial frequency response;
Reichenbach, Park & Narayanswamy 1991, "Characterizing digital image acquisition devices", Opt.
Eng. 30(2)): it adds a faint pattern of sinusoids at known frequencies and random phases to
patches of a real input, restores ``x + a p`` and ``x - a p``, and projects the difference of the
two outputs on each sinusoid. Content cancels in the difference; what is left is the model's
coherent response, its transfer function at each frequency, per axis and per region (person,
background). A model that honestly works at full resolution responds up to ~0.5 cycles/px
(a denoiser responds less, but still coherently); a 2x reduction responds to nothing above 0.25.

Two consistency checks defeat the evasions of a model that tries:

* **mismatch**: away from the patterns, ``x + a p`` and ``x - a p`` equal ``x``, so the mean of
  their outputs must equal the scored output there, up to second-order effects. A model that
  recognises near-duplicate inputs and restores only those at full resolution (the scored call at
  a low one) differs there by all the detail it dropped.
* **repeat**: ``x`` itself is restored a second time. Every seed the ingestion program controls is
  set before each call, so an honest model gives the same output; one that does not (its own
  unseeded randomness, GPU atomics) is *reported* as nondeterministic, and the mismatch is then
  judged against how much its repeated outputs differ, never flagged for noise alone.

A model that answers probes with a cached or constant result has no response: it is flagged by
the response threshold. Every function here is pure (arrays in, numbers out); the ingestion
runner makes the model calls. The probe only ever flags, for the organisers' review.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .forensics import CLEAN, FLAGGED, luminance

NOT_JUDGED = "not judged"
REGIONS = ("person", "background")
AXES = ("horizontal", "vertical")  # horizontal: frequency along x (columns), vertical: along y
# The transfer curve's frequencies, cycles/px (each jittered by up to one bin per run).
FREQUENCIES = (0.04, 0.06, 0.08, 0.10, 0.12, 0.16, 0.20, 0.24, 0.28, 0.32, 0.36, 0.40, 0.44, 0.47, 0.49)
LOW_BAND = (0.04, 0.13)  # the reference: passes any resolution reduction down to 1/4
HIGH_BAND = (0.30, 0.50)  # above the Nyquist frequency of a 2x reduction (0.25), with a margin
TOP_BAND = (0.46, 0.50)  # above the Nyquist frequency of a 0.9 reduction (0.45)
RESPONDS = 0.5  # "responds up to f": the highest frequency whose gain is at least half the low band's
_TAPER = 0.25  # Tukey window share: the pattern fades in and out at the patch's edges
_MARGIN = 32  # px: the mismatch is measured this far from every pattern
_DETAIL_SIGMA = 1.5  # px: the mismatch is measured on detail (minus a Gaussian blur of this sigma)
_CANDIDATES = 24  # places tried per patch; the least clipped of a random handful is kept


@dataclass(frozen=True)
class ProbeSettings:
    """The probe's settings (the profile's ``probe:`` section).

    ``images``: inputs probed per run (three extra model calls each); ``patches``: patterns per
    image, split between person and background; ``patch_size``: px; ``amplitude``: levels per
    sinusoid (30 sinusoids: about 3.9 levels RMS); ``response_min``: flag when the model's gain
    above 0.3 cycles/px is below this share of its low-band gain (on any axis and region);
    ``mismatch_max``: flag when, away from the patterns, the probe outputs differ from the scored
    output by more than this many levels RMS of fine detail plus ``repeat_factor`` times what
    repeated runs of the same input differ by.
    """

    images: int = 2
    patches: int = 8
    patch_size: int = 128
    amplitude: float = 1.0
    response_min: float = 0.25
    top_min: float = 0.0  # flag when the gain at 0.46-0.5 cycles/px is below this (0: reported only)
    mismatch_max: float = 1.0
    repeat_factor: float = 2.0
    calibration: str = ""  # how the thresholds were calibrated, shown in reports

    def as_record(self) -> dict:
        """Every setting, JSON-ready (for ingestion.json and reports)."""
        return {"images": self.images, "patches": self.patches, "patch_size": self.patch_size,
                "amplitude": self.amplitude, "response_min": self.response_min, "top_min": self.top_min,
                "mismatch_max": self.mismatch_max, "repeat_factor": self.repeat_factor,
                "calibration": self.calibration}

    @classmethod
    def from_mapping(cls, raw: dict | None) -> ProbeSettings:
        """Settings from the profile's ``probe:`` mapping (missing keys keep the defaults)."""
        raw = dict(raw or {})
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown probe settings {sorted(unknown)}")
        settings = cls(**{name: type(getattr(cls, name))(value) for name, value in raw.items()})
        if settings.images < 0 or settings.patches < 2 or settings.patch_size < 32 or settings.amplitude <= 0:
            raise ValueError("probe needs images >= 0, patches >= 2, patch_size >= 32 and amplitude > 0")
        return settings


@dataclass(frozen=True)
class Sinusoid:
    axis: int  # 0: horizontal (frequency mostly along x), 1: vertical
    frequency: float  # cycles/px along its axis (the curve's abscissa)
    fx: float  # cycles/px along x
    fy: float  # cycles/px along y
    phase: float


@dataclass(frozen=True)
class Patch:
    row: int
    col: int
    region: str  # "person" or "background"
    sinusoids: tuple[Sinusoid, ...]


@dataclass(frozen=True)
class ProbePlan:
    """Where and what to add to one input: patches of sinusoids, and their amplitude."""

    shape: tuple[int, int]
    size: int
    amplitude: float
    patches: tuple[Patch, ...]


@dataclass(frozen=True)
class ProbeMeasurement:
    """What one probed image showed (JSON-ready through ``as_dict``)."""

    image: str
    gains: dict[str, list[float]]  # "region/axis" -> gain per FREQUENCIES, relative to its low band
    low_gain: float  # the model's absolute low-band gain (output levels per input level)
    mismatch: float  # levels RMS of fine detail, away from the patterns: probe mean vs scored output
    mismatch_repeat: float  # the same against the repeated output
    nondeterminism: float  # levels RMS of fine detail: repeated output vs scored output
    max_repeat_diff: int  # the largest pixel difference between the repeated and the scored output
    clipped: float  # share of perturbed pixels clipped at 0 or 255

    def as_dict(self) -> dict:
        return {"image": self.image, "gains": self.gains, "low_gain": self.low_gain,
                "mismatch": self.mismatch, "mismatch_repeat": self.mismatch_repeat,
                "nondeterminism": self.nondeterminism, "max_repeat_diff": self.max_repeat_diff,
                "clipped": self.clipped}


@dataclass(frozen=True)
class ProbeVerdict:
    """The probe's judgement of the model (it applies to every image of the run)."""

    verdict: str  # clean, flagged or "not judged"
    reasons: tuple[str, ...] = ()
    response: float | None = None  # the weakest high-band gain over regions and axes
    weakest: str | None = None  # where it is: "background/horizontal"
    top: float | None = None  # the weakest gain at 0.46-0.5 cycles/px (above a 0.9 reduction's Nyquist)
    responds_to: dict[str, float] = field(default_factory=dict)  # axis -> cycles/px
    curves: dict[str, list[float]] = field(default_factory=dict)  # "region/axis" -> mean gains
    mismatch: float | None = None
    nondeterminism: float | None = None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "reasons": list(self.reasons), "response": self.response,
                "weakest": self.weakest, "top": self.top, "responds_to": self.responds_to,
                "frequencies": list(FREQUENCIES), "curves": self.curves, "mismatch": self.mismatch,
                "nondeterminism": self.nondeterminism, "notes": list(self.notes)}


def choose_images(stems: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` of ``stems`` at random (all of them when there are fewer), in their run order."""
    if count >= len(stems):
        return list(stems)
    picked = set(rng.choice(len(stems), size=count, replace=False).tolist())
    return [stem for i, stem in enumerate(stems) if i in picked]


def _tukey(n: int) -> np.ndarray:
    window = np.ones(n)
    edge = max(1, int(_TAPER * n / 2))
    ramp = 0.5 * (1 - np.cos(np.pi * np.arange(edge) / edge))
    window[:edge], window[-edge:] = ramp, ramp[::-1]
    return window


def _window(size: int) -> np.ndarray:
    return np.outer(_tukey(size), _tukey(size)).astype(np.float32)


def _sinusoids(size: int, rng: np.random.Generator) -> tuple[Sinusoid, ...]:
    """One sinusoid per curve frequency and axis, on the patch's DFT grid (jittered by up to a bin
    along its axis, tilted by up to three bins across it), each with a random phase."""
    found = []
    for axis in (0, 1):
        for frequency in FREQUENCIES:
            along = min(round(frequency * size) + int(rng.integers(-1, 2)), size // 2 - 1) / size
            across = int(rng.integers(-3, 4)) / size
            fx, fy = (along, across) if axis == 0 else (across, along)
            found.append(Sinusoid(axis, along, fx, fy, float(rng.uniform(0, 2 * np.pi))))
    return tuple(found)


def _carrier(size: int, sinusoid: Sinusoid) -> np.ndarray:
    """exp(i (2 pi (fx x + fy y) + phase)) on the patch grid."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    return np.exp(1j * (2 * np.pi * (sinusoid.fx * x + sinusoid.fy * y) + sinusoid.phase))


def pattern(patch: Patch, size: int, amplitude: float) -> np.ndarray:
    """The patch's pattern in input levels (float32 ``size`` x ``size``), windowed at its edges."""
    total = sum(_carrier(size, s).real for s in patch.sinusoids)
    return (amplitude * _window(size) * total).astype(np.float32)


def _clipped_share(luma: np.ndarray, peak: float) -> float:
    return float(np.mean((luma < peak) | (luma > 255 - peak)))


def plan_probe(image: np.ndarray, person: np.ndarray, settings: ProbeSettings,
               rng: np.random.Generator) -> ProbePlan | None:
    """Random, non-overlapping patch places, half on the person and half on the background (all on
    one where the other has no room), each the least clipped of a few random candidates; None when
    the image is too small for two patches with their margins."""
    height, width = image.shape[:2]
    size = settings.patch_size
    if min(height, width) < size + 2 * _MARGIN or height * width < 4 * (size + 2 * _MARGIN) ** 2:
        return None
    luma = luminance(image)
    peak = 3.0 * settings.amplitude * np.sqrt(len(FREQUENCIES))  # ~3 sigma of the summed pattern
    taken = np.zeros((height, width), bool)
    person = person.astype(bool)
    patches: list[Patch] = []
    for index in range(settings.patches):
        region = REGIONS[index % 2]
        options = []
        for _ in range(_CANDIDATES):
            row = int(rng.integers(0, height - size + 1))
            col = int(rng.integers(0, width - size + 1))
            box = (slice(row, row + size), slice(col, col + size))
            if taken[box].any():
                continue
            on_person = person[box].mean()
            if (region == "person") != (on_person >= 0.5):
                continue
            options.append((_clipped_share(luma[box], peak), row, col))
        if not options:
            continue
        options.sort()
        _, row, col = options[int(rng.integers(0, min(3, len(options))))]
        taken[max(0, row - _MARGIN):row + size + _MARGIN, max(0, col - _MARGIN):col + size + _MARGIN] = True
        patches.append(Patch(row, col, region, _sinusoids(size, rng)))
    if len(patches) < 2:
        return None
    return ProbePlan((height, width), size, settings.amplitude, tuple(patches))


def perturbation(plan: ProbePlan) -> np.ndarray:
    """The whole pattern ``p`` in input levels (HxW float32), zero away from the patches."""
    field_ = np.zeros(plan.shape, np.float32)
    for patch in plan.patches:
        field_[patch.row:patch.row + plan.size, patch.col:patch.col + plan.size] += pattern(
            patch, plan.size, plan.amplitude)
    return field_


def probe_inputs(image: np.ndarray, plan: ProbePlan) -> tuple[np.ndarray, np.ndarray, float]:
    """``x + a p`` and ``x - a p`` as HxWx3 uint8 (the same pattern on R, G and B: a change of
    luma), and the share of their pixels clipped at 0 or 255."""
    field_ = perturbation(plan)[..., None]
    base = image.astype(np.float32)
    plus, minus = np.rint(base + field_), np.rint(base - field_)
    inside = np.broadcast_to(field_ != 0, plus.shape)
    clipped = float(np.mean(((plus < 0) | (plus > 255) | (minus < 0) | (minus > 255))[inside]))
    return (np.clip(plus, 0, 255).astype(np.uint8), np.clip(minus, 0, 255).astype(np.uint8), clipped)


def _detail(luma: np.ndarray) -> np.ndarray:
    return luma - cv2.GaussianBlur(luma, (0, 0), _DETAIL_SIGMA)


def _away(plan: ProbePlan) -> np.ndarray:
    mask = np.ones(plan.shape, bool)
    for patch in plan.patches:
        mask[max(0, patch.row - _MARGIN):patch.row + plan.size + _MARGIN,
             max(0, patch.col - _MARGIN):patch.col + plan.size + _MARGIN] = False
    return mask


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values, dtype=np.float64)))) if values.size else 0.0


def _band(gains: np.ndarray, band: tuple[float, float]) -> float:
    chosen = [(band[0] <= f < band[1]) for f in FREQUENCIES]
    return float(np.mean(gains[np.asarray(chosen)]))


def measure(stem: str, plan: ProbePlan, scored: np.ndarray, plus: np.ndarray, minus: np.ndarray,
            repeat: np.ndarray, clipped: float) -> ProbeMeasurement:
    """The model's coherent response to the plan's sinusoids and the consistency of its outputs
    (scored: f(x); plus, minus: f(x + a p), f(x - a p); repeat: f(x) again; all HxWx3 uint8)."""
    lum = {name: luminance(rgb).astype(np.float64) for name, rgb in
           (("scored", scored), ("plus", plus), ("minus", minus), ("repeat", repeat))}
    size, window = plan.size, _window(plan.size).astype(np.float64)
    norm = 0.5 * float((window * window).sum())
    difference = lum["plus"] - lum["minus"]  # = 2 a J p + odd-order terms: content cancels
    per_curve: dict[str, list[np.ndarray]] = {}
    absolute: list[float] = []
    for patch in plan.patches:
        part = difference[patch.row:patch.row + size, patch.col:patch.col + size] * window
        # per sinusoid: the complex projection, so a model that shifts the image keeps its gain
        gains = np.array([abs(np.sum(part * np.conj(_carrier(size, s)))) / norm / (2 * plan.amplitude)
                          for s in patch.sinusoids])
        for axis in (0, 1):
            along = gains[[s.axis == axis for s in patch.sinusoids]]
            per_curve.setdefault(f"{patch.region}/{AXES[axis]}", []).append(along)
            absolute.append(_band(along, LOW_BAND))
    curves = {}
    for key, rows in per_curve.items():
        mean = np.mean(rows, axis=0)
        low = _band(mean, LOW_BAND)
        curves[key] = [round(float(g / low), 4) if low > 1e-6 else 0.0 for g in mean]
    away = _away(plan)
    probe_mean = (lum["plus"] + lum["minus"]) / 2
    detail = {name: _detail(values) for name, values in
              (("mean", probe_mean), ("scored", lum["scored"]), ("repeat", lum["repeat"]))}
    return ProbeMeasurement(
        image=stem, gains=curves, low_gain=round(float(np.mean(absolute)), 4),
        mismatch=round(_rms((detail["mean"] - detail["scored"])[away]), 4),
        mismatch_repeat=round(_rms((detail["mean"] - detail["repeat"])[away]), 4),
        nondeterminism=round(_rms((detail["repeat"] - detail["scored"])[away]), 4),
        max_repeat_diff=int(np.max(np.abs(repeat.astype(np.int16) - scored.astype(np.int16)))),
        clipped=round(clipped, 4),
    )


def responds_up_to(gains: list[float]) -> float:
    """The highest curve frequency whose gain is at least half the low band's, with every lower one
    at least that too (cycles/px); 0 when even the lowest is not."""
    last = 0.0
    for frequency, gain in zip(FREQUENCIES, gains, strict=True):
        if gain < RESPONDS:
            break
        last = frequency
    return last


def judge(measurements: list[ProbeMeasurement], settings: ProbeSettings,
          failures: list[str] | None = None) -> ProbeVerdict:
    """The run's verdict from every probed image: flagged when the weakest high-band response (over
    regions and axes, the images' curves averaged) is below ``response_min``, when the probe
    outputs disagree with the scored output more than repeated runs disagree with each other, or
    when the model failed on a probe input; "not judged" when nothing could be measured."""
    failures = list(failures or [])
    if not measurements:
        reasons = tuple(f"the model failed on a probe input: {f}" for f in failures)
        return ProbeVerdict(FLAGGED if reasons else NOT_JUDGED, reasons,
                            notes=() if reasons else ("no image could be probed",))
    keys = sorted({key for m in measurements for key in m.gains})
    curves = {key: [round(float(v), 4) for v in
                    np.mean([m.gains[key] for m in measurements if key in m.gains], axis=0)] for key in keys}
    highs = {key: _band(np.asarray(curve), HIGH_BAND) for key, curve in curves.items()}
    weakest = min(highs, key=highs.get)
    response = round(highs[weakest], 4)
    tops = {key: _band(np.asarray(curve), TOP_BAND) for key, curve in curves.items()}
    top_key = min(tops, key=tops.get)
    top = round(tops[top_key], 4)
    responds = {axis: min(responds_up_to(curve) for key, curve in curves.items() if key.endswith(axis))
                for axis in AXES if any(key.endswith(axis) for key in curves)}
    reasons = [f"the model failed on a probe input: {f}" for f in failures]
    if response < settings.response_min:
        region, axis = weakest.split("/")
        reasons.append(f"its response to fine detail above {HIGH_BAND[0]:.2f} cycles/px is {response:.2f} of "
                       f"its low-band response ({region}, {axis}; threshold {settings.response_min:.2f}); it "
                       f"responds up to {responds.get(axis, 0.0):.2f} cycles/px")
    if top < settings.top_min:
        region, axis = top_key.split("/")
        reasons.append(f"its response above {TOP_BAND[0]:.2f} cycles/px is {top:.2f} of its low-band "
                       f"response ({region}, {axis}; threshold {settings.top_min:.2f})")
    def noise(m: ProbeMeasurement) -> float:  # how much repeated runs of the model differ
        return min(m.nondeterminism, m.mismatch_repeat)

    worst = max(measurements, key=lambda m: m.mismatch - settings.repeat_factor * noise(m))
    allowed = settings.mismatch_max + settings.repeat_factor * noise(worst)
    if worst.mismatch > allowed:
        reasons.append(f"away from the probe patterns its outputs for the probe inputs differ from its "
                       f"scored output of {worst.image} by {worst.mismatch:.2f} levels RMS of fine detail, "
                       f"while repeated runs differ by {noise(worst):.2f} (allowed {allowed:.2f})")
    notes = []
    nondeterministic = [m for m in measurements if m.max_repeat_diff > 0]
    if nondeterministic:
        most = max(nondeterministic, key=lambda m: m.nondeterminism)
        notes.append(f"outputs differ for the same input (every seed the ingestion program controls was "
                     f"set): up to {most.max_repeat_diff} levels, {most.nondeterminism:.2f} RMS of fine "
                     f"detail on {most.image}; reported, not flagged")
    return ProbeVerdict(
        FLAGGED if reasons else CLEAN, tuple(reasons), response, weakest, top, responds, curves,
        round(max(m.mismatch for m in measurements), 4),
        round(max(m.nondeterminism for m in measurements), 4), tuple(notes))
