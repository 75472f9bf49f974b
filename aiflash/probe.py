"""The active resolution probe: does the model respond to detail that a reduced resolution cannot carry?

A pipeline that works at a reduced resolution has discarded everything above that resolution's
Nyquist frequency, and nothing after it (no interpolator, no learned upsampler) can respond to
information it never received. The ingestion program owns the inputs, so it measures this
directly, as a resolution test chart measures a camera (ISO 12233 spatial frequency response;
Reichenbach, Park & Narayanswamy 1991, "Characterizing digital image acquisition devices", Opt.
Eng. 30(2)): it adds strong, slanted sinusoidal gratings at known frequencies and random phases to
patches of a real input, restores ``x + a p`` and ``x - a p``, and projects the difference of the
two outputs on each grating. Content cancels in the difference; what is left is the model's
coherent response, its transfer function, per band, axis and region (person, background). The
gratings are strong (40 levels) because a denoiser keeps strong structure as signal and removes
faint texture as noise. A 2x or 4x reduction leaves nothing at 0.40-0.48 cycles/px but the
interpolator's stop-band leakage (0.000-0.005 of its low-band response); networks trained for a
few minutes answer there with as little as 0.004 (docs/probe.md has the measurements and what
that leaves to the content check).

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
AXES = ("horizontal", "vertical")  # horizontal: a grating whose frequency runs along x (columns)
# The transfer curve's bands (cycles/px): each patch carries one grating at a random frequency in
# one band. The first is the reference; the last lies above the Nyquist frequency of any reduction
# to 0.8 of the size or below (0.40 cycles/px), where a reduced pipeline has nothing to answer with.
BANDS = ((0.05, 0.12), (0.16, 0.26), (0.28, 0.38), (0.40, 0.48))
FREQUENCIES = tuple(round((low + high) / 2, 3) for low, high in BANDS)  # the curve's abscissae
RESPONDS = 0.5  # "responds up to f": the highest band whose gain is at least half the first band's
_TAPER = 0.5  # Tukey window share: the grating fades in and out over the patch's outer quarters
_MARGIN = 32  # px: the mismatch is measured this far from every pattern
_DETAIL_SIGMA = 1.5  # px: the mismatch is measured on detail (minus a Gaussian blur of this sigma)
_CANDIDATES = 24  # places tried per patch; the least clipped of a random few is kept
_SLANT_DEG = (2.0, 12.0)  # gratings are slanted (as test charts' edges are) by this much, either way
_PURE = 0.9  # share of a patch that must lie on its region


@dataclass(frozen=True)
class ProbeSettings:
    """The probe's settings (the profile's ``probe:`` section).

    ``images``: inputs probed per run (three extra model calls each); ``patches``: gratings per
    image, spread over regions (person, background), axes and bands; ``patch_size``: px;
    ``amplitude``: the gratings' amplitude in levels (strong enough that a denoiser keeps it as
    signal); ``response_min``: flag when the model's gain in the top band (0.40-0.48 cycles/px) is
    below this share of its gain in the first band (0.05-0.12), on any region and axis;
    ``alias_max``: flag when a top-band grating comes back at its period-2 mirror frequency (f + 1/2
    along x, y or both: what decimating by two turns it into) with more than this share of the
    first band's gain;
    ``mismatch_max``: flag when, away from the patterns, the probe outputs differ from the scored
    output by more than this many levels RMS of fine detail plus ``repeat_factor`` times what
    repeated runs of the same input differ by.
    """

    images: int = 2
    patches: int = 16
    patch_size: int = 96
    amplitude: float = 40.0
    response_min: float = 0.003
    alias_max: float = 0.25
    mismatch_max: float = 1.5
    repeat_factor: float = 2.0
    calibration: str = ""  # how the thresholds were calibrated, shown in reports

    def as_record(self) -> dict:
        """Every setting, JSON-ready (for ingestion.json and reports)."""
        return {"images": self.images, "patches": self.patches, "patch_size": self.patch_size,
                "amplitude": self.amplitude, "response_min": self.response_min, "alias_max": self.alias_max,
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
class Patch:
    """One grating: where, on which region, along which axis, in which band, and its wave."""

    row: int
    col: int
    region: str  # "person" or "background"
    axis: int  # 0: horizontal, 1: vertical
    band: int  # index into BANDS
    frequency: float  # cycles/px along its wave vector
    slant: float  # radians, the wave vector's tilt away from its axis
    phase: float


@dataclass(frozen=True)
class ProbePlan:
    """Where and what to add to one input: patches of gratings, and their amplitude."""

    shape: tuple[int, int]
    size: int
    amplitude: float
    patches: tuple[Patch, ...]


@dataclass(frozen=True)
class ProbeMeasurement:
    """What one probed image showed (JSON-ready through ``as_dict``)."""

    image: str
    gains: dict[str, list[float | None]]  # "region/axis" -> gain per band, relative to the first band
    aliases: dict[str, float]  # "region/axis" -> top-band gratings' relative gain at their period-2 mirror
    low_gain: float  # the model's absolute first-band gain (output levels per input level)
    mismatch: float  # levels RMS of fine detail, away from the patterns: probe mean vs scored output
    mismatch_repeat: float  # the same against the repeated output
    nondeterminism: float  # levels RMS of fine detail: repeated output vs scored output
    max_repeat_diff: int  # the largest pixel difference between the repeated and the scored output
    clipped: float  # share of perturbed pixels clipped at 0 or 255

    def as_dict(self) -> dict:
        return {"image": self.image, "gains": self.gains, "aliases": self.aliases, "low_gain": self.low_gain,
                "mismatch": self.mismatch, "mismatch_repeat": self.mismatch_repeat,
                "nondeterminism": self.nondeterminism, "max_repeat_diff": self.max_repeat_diff,
                "clipped": self.clipped}


@dataclass(frozen=True)
class ProbeVerdict:
    """The probe's judgement of the model (it applies to every image of the run)."""

    verdict: str  # clean, flagged or "not judged"
    reasons: tuple[str, ...] = ()
    response: float | None = None  # the weakest top-band gain over regions and axes
    weakest: str | None = None  # where it is: "background/horizontal"
    alias: float | None = None  # the strongest period-2 mirror gain of a top-band grating
    aliased: str | None = None  # where it is
    responds_to: dict[str, float] = field(default_factory=dict)  # axis -> cycles/px
    curves: dict[str, list[float | None]] = field(default_factory=dict)  # "region/axis" -> mean gains
    mismatch: float | None = None
    nondeterminism: float | None = None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "reasons": list(self.reasons), "response": self.response,
                "weakest": self.weakest, "alias": self.alias, "aliased": self.aliased,
                "responds_to": self.responds_to,
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
    return np.outer(_tukey(size), _tukey(size))


_MIRRORS = ((0.5, 0.0), (0.0, 0.5), (0.5, 0.5))  # cycles/px added along (x, y): period-2 aliases


def _wave(size: int, patch: Patch, mirror: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """exp(i (2 pi (k + mirror) . r + phase)) on the patch grid (complex), k the grating's wave
    vector; ``mirror`` shifts it to where decimation by two folds the grating."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    along = patch.frequency * np.cos(patch.slant)
    across = patch.frequency * np.sin(patch.slant)
    kx, ky = (along, across) if patch.axis == 0 else (across, along)
    return np.exp(1j * (2 * np.pi * ((kx + mirror[0]) * x + (ky + mirror[1]) * y) + patch.phase))


def pattern(patch: Patch, size: int, amplitude: float) -> np.ndarray:
    """The patch's grating in input levels (float32 ``size`` x ``size``), faded at its edges."""
    return (amplitude * _window(size) * _wave(size, patch).real).astype(np.float32)


def _clipped_share(luma: np.ndarray, peak: float) -> float:
    return float(np.mean((luma < peak) | (luma > 255 - peak)))


def _slots(count: int) -> list[tuple[str, int, int]]:
    """(region, axis, band) for each patch: every combination in turn, so each region and axis
    gets the first and the last band before any gets a second."""
    order = [0, len(BANDS) - 1, *range(1, len(BANDS) - 1)]
    combos = [(region, axis, band) for band in order for region in REGIONS for axis in (0, 1)]
    return [combos[i % len(combos)] for i in range(count)]


def plan_probe(image: np.ndarray, person: np.ndarray, settings: ProbeSettings,
               rng: np.random.Generator) -> ProbePlan | None:
    """Random, non-overlapping grating places on the person and the background, each the least
    clipped of a few random candidates, with random frequencies (within their bands), slants and
    phases; None when the image has no room for a first-band and a last-band grating."""
    height, width = image.shape[:2]
    size = settings.patch_size
    if min(height, width) < size + 2 * _MARGIN:
        return None
    luma = luminance(image)
    taken = np.zeros((height, width), bool)
    person = person.astype(bool)
    patches: list[Patch] = []
    for region, axis, band in _slots(settings.patches):
        options = []
        for _ in range(_CANDIDATES):
            row = int(rng.integers(0, height - size + 1))
            col = int(rng.integers(0, width - size + 1))
            box = (slice(row, row + size), slice(col, col + size))
            share = person[box].mean()  # a patch lies on one region only, so each region is judged alone
            if taken[box].any() or (share < _PURE if region == "person" else share > 1 - _PURE):
                continue
            options.append((_clipped_share(luma[box], settings.amplitude), row, col))
        if not options:
            continue
        options.sort()
        _, row, col = options[int(rng.integers(0, min(3, len(options))))]
        taken[max(0, row - _MARGIN):row + size + _MARGIN, max(0, col - _MARGIN):col + size + _MARGIN] = True
        slant = np.deg2rad(rng.uniform(*_SLANT_DEG)) * rng.choice([-1.0, 1.0])
        patches.append(Patch(row, col, region, axis, band, float(rng.uniform(*BANDS[band])), float(slant),
                             float(rng.uniform(0, 2 * np.pi))))
    bands = {p.band for p in patches}
    if not {0, len(BANDS) - 1} <= bands:
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


def measure(stem: str, plan: ProbePlan, scored: np.ndarray, plus: np.ndarray, minus: np.ndarray,
            repeat: np.ndarray, clipped: float) -> ProbeMeasurement:
    """The model's coherent response to each of the plan's gratings and the consistency of its
    outputs (scored: f(x); plus, minus: f(x + a p), f(x - a p); repeat: f(x) again; HxWx3 uint8)."""
    lum = {name: luminance(rgb).astype(np.float64) for name, rgb in
           (("scored", scored), ("plus", plus), ("minus", minus), ("repeat", repeat))}
    size, window = plan.size, _window(plan.size)
    norm = 0.5 * float((window * window).sum())
    difference = lum["plus"] - lum["minus"]  # = 2 a J p + odd-order terms: the content cancels
    found: dict[tuple[str, int, int], list[float]] = {}
    mirrored: dict[tuple[str, int], list[float]] = {}
    top = len(BANDS) - 1
    for patch in plan.patches:
        part = difference[patch.row:patch.row + size, patch.col:patch.col + size] * window
        scale = norm * 2 * plan.amplitude
        # the complex projection: a model that shifts the image keeps its gain
        found.setdefault((patch.region, patch.axis, patch.band), []).append(
            abs(np.sum(part * np.conj(_wave(size, patch)))) / scale)
        if patch.band == top:
            mirrored.setdefault((patch.region, patch.axis), []).append(
                max(abs(np.sum(part * np.conj(_wave(size, patch, m)))) / scale for m in _MIRRORS))
    curves: dict[str, list[float | None]] = {}
    aliases: dict[str, float] = {}
    low_gains = []
    for region in REGIONS:
        for axis in (0, 1):
            means = [float(np.mean(found[(region, axis, b)])) if (region, axis, b) in found else None
                     for b in range(len(BANDS))]
            if means[0] is None or means[-1] is None:
                continue
            low_gains.append(means[0])
            low = max(means[0], 1e-9)
            curves[f"{region}/{AXES[axis]}"] = [None if g is None else round(g / low, 4) for g in means]
            aliases[f"{region}/{AXES[axis]}"] = round(float(np.mean(mirrored[(region, axis)])) / low, 4)
    away = _away(plan)
    probe_mean = (lum["plus"] + lum["minus"]) / 2
    detail = {name: _detail(values) for name, values in
              (("mean", probe_mean), ("scored", lum["scored"]), ("repeat", lum["repeat"]))}
    return ProbeMeasurement(
        image=stem, gains=curves, aliases=aliases,
        low_gain=round(float(np.mean(low_gains)) if low_gains else 0.0, 4),
        mismatch=round(_rms((detail["mean"] - detail["scored"])[away]), 4),
        mismatch_repeat=round(_rms((detail["mean"] - detail["repeat"])[away]), 4),
        nondeterminism=round(_rms((detail["repeat"] - detail["scored"])[away]), 4),
        max_repeat_diff=int(np.max(np.abs(repeat.astype(np.int16) - scored.astype(np.int16)))),
        clipped=round(clipped, 4),
    )


def responds_up_to(gains: list[float | None]) -> float:
    """The highest band centre whose gain is at least half the first band's, with every band below
    it at least that too (cycles/px); 0 when even the first is not. Missing bands are skipped."""
    last = 0.0
    for frequency, gain in zip(FREQUENCIES, gains, strict=True):
        if gain is None:
            continue
        if gain < RESPONDS:
            break
        last = frequency
    return last


def _mean_curve(rows: list[list[float | None]]) -> list[float | None]:
    columns = zip(*rows, strict=True)
    return [round(float(np.mean(values)), 4) if values else None
            for values in ([v for v in column if v is not None] for column in columns)]


def judge(measurements: list[ProbeMeasurement], settings: ProbeSettings,
          failures: list[str] | None = None) -> ProbeVerdict:
    """The run's verdict from every probed image: flagged when the weakest top-band response (over
    regions and axes, the images' curves averaged) is below ``response_min``, when the probe
    outputs disagree with the scored output more than repeated runs disagree with each other, or
    when the model failed on a probe input; "not judged" when nothing could be measured."""
    failures = list(failures or [])
    reasons = [f"the model failed on a probe input: {f}" for f in failures]
    measured = [m for m in measurements if m.gains]
    if not measured:
        return ProbeVerdict(FLAGGED if reasons else NOT_JUDGED, tuple(reasons),
                            notes=() if reasons else ("no image could be probed",))
    keys = sorted({key for m in measured for key in m.gains})
    curves = {key: _mean_curve([m.gains[key] for m in measured if key in m.gains]) for key in keys}
    weakest = min(curves, key=lambda key: curves[key][-1])
    response = curves[weakest][-1]
    responds = {axis: min(responds_up_to(curve) for key, curve in curves.items() if key.endswith(axis))
                for axis in AXES if any(key.endswith(axis) for key in curves)}
    alias_curves = {key: float(np.mean([m.aliases[key] for m in measured if key in m.aliases]))
                    for key in keys}
    aliased = max(alias_curves, key=alias_curves.get)
    alias = round(alias_curves[aliased], 4)
    top = BANDS[-1]
    if response < settings.response_min:
        region, axis = weakest.split("/")
        reasons.append(f"its response to a grating at {top[0]:.2f}-{top[1]:.2f} cycles/px is {response:.3f} "
                       f"of its response at {BANDS[0][0]:.2f}-{BANDS[0][1]:.2f} ({region}, {axis}; "
                       f"threshold {settings.response_min:.3f}); it responds up to "
                       f"{responds.get(axis, 0.0):.2f} cycles/px")
    if alias > settings.alias_max:
        region, axis = aliased.split("/")
        reasons.append(f"a grating at {top[0]:.2f}-{top[1]:.2f} cycles/px comes back at its period-2 mirror "
                       f"frequency (where decimating by two folds it) with {alias:.2f} of its response at "
                       f"{BANDS[0][0]:.2f}-{BANDS[0][1]:.2f} ({region}, {axis}; threshold "
                       f"{settings.alias_max:.2f})")

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
        FLAGGED if reasons else CLEAN, tuple(reasons), round(float(response), 4), weakest, alias, aliased,
        responds, curves,
        round(max(m.mismatch for m in measurements), 4),
        round(max(m.nondeterminism for m in measurements), 4), tuple(notes))
