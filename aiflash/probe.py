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
faint texture as noise. Above the Nyquist frequency of a reduction a pipeline has nothing of its
own to answer with, and what its interpolator folds back gives it away twice over:

* **partner**: resampling at a scale s answers a grating at f also at s - f (the sampling
  frequency minus the grating's), a frequency the input did not change; a model that sees every
  pixel answers at f, spread a little by the content it modulates;
* **independence**: one sample per 2 px answers a grating and its period-2 mirror from the same
  low-resolution coefficient, whatever upsampler follows (bilinear, bicubic, learned), so the
  top band's response over its mirror equals the first band's leakage into its mirror (a 2x2
  transfer matrix of rank one); a pixel-unshuffle lattice network, period-2 as well but fed every
  pixel, answers the top band on its own.

Networks trained for a few minutes answer the top band weakly (0.015 of their first band's
response at least, on the calibration photographs), a reduction behind an ideal low-pass not at
all. docs/probe.md has the measurements, and what is left to review (detail pasted back).

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

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from .forensics import CLEAN, FLAGGED, luminance

NOT_JUDGED = "not judged"
REGIONS = ("person", "background")
AXES = ("horizontal", "vertical")  # horizontal: a grating whose frequency runs along x (columns)
# The transfer curve's bands (cycles/px along the grating's axis): each patch carries one grating
# at a random frequency in one band. The first is the reference; the last lies above the Nyquist
# frequency of any reduction to 0.9 of the size or below (0.45 cycles/px), where a reduced pipeline
# has nothing of its own to answer with: only what its interpolator folds back, which comes with a
# partner at another frequency.
BANDS = ((0.05, 0.12), (0.16, 0.26), (0.28, 0.38), (0.455, 0.49))
TOP = f"{BANDS[-1][0]:.3g}-{BANDS[-1][1]:.3g}"  # the top band in words, for reasons and reports
LOW = f"{BANDS[0][0]:.3g}-{BANDS[0][1]:.3g}"
FREQUENCIES = tuple(round((low + high) / 2, 3) for low, high in BANDS)  # the curve's abscissae
RESPONDS = 0.5  # "responds up to f": the highest band whose gain is at least half the first band's
_TAPER = 0.5  # Tukey window share: the grating fades in and out over the patch's outer quarters
_MARGIN = 32  # px: the mismatch is measured this far from every pattern
_DETAIL_SIGMA = 1.5  # px: the mismatch is measured on detail (minus a Gaussian blur of this sigma)
_CANDIDATES = 24  # places tried per patch; the least clipped of a random few is kept
# Gratings are slanted (as test charts' edges are) by this much, either way: a resampling's partner
# of a grating (its wave vector minus the sampling frequency along the axis) then lies at least
# 2 f sin(6 deg) = 0.095 cycles/px from the grating's own mirror image, outside _NEAR.
_SLANT_DEG = (6.0, 14.0)
_HARMONICS = 3  # odd-order terms of a nonlinear model (and the input's clipping) land at n k, n <= 3
# cycles/px: the spectral neighbourhood of the grating and of its period-2 mirrors (a lattice
# network answers there too), which the content they modulate spreads
_NEAR = 0.045
_NEAR_HARMONIC = 0.03  # cycles/px around its harmonics and their period-2 mirrors
_NEAR_DC = 0.03  # cycles/px: a change of overall brightness (a model with global statistics)
_SPECTRUM = 192  # FFT size for the patch's spectrum (zero padded: 2x the patch)
# A top-band response this weak (share of the first band's) is compared with this floor instead,
# so that what every model shows from the input's clipping is not read as a partner frequency.
_SPURIOUS_FLOOR = 0.02
_PURE = 0.9  # share of a patch that must lie on its region


@dataclass(frozen=True)
class ProbeSettings:
    """The probe's settings (the profile's ``probe:`` section).

    ``images``: inputs probed per run (three extra model calls each); ``patches``: gratings per
    image, spread over regions (person, background), axes and bands; ``patch_size``: px;
    ``amplitude``: the gratings' amplitude in levels (strong enough that a denoiser keeps it as
    signal); ``response_min``: flag when the model's gain in the top band (0.455-0.49 cycles/px) is
    below this share of its gain in the first band (0.05-0.12), on any region and axis;
    ``alias_max``: flag when a top-band grating comes back at its period-2 mirror frequency (f + 1/2
    along x, y or both: what decimating by two turns it into) with more than this share of the
    first band's gain;
    ``spurious_max``: flag when a top-band grating comes back with a component at a frequency the
    input did not change (its strongest, away from the grating, its harmonics and their period-2
    mirrors) stronger than this share of the grating's own response: what resampling at a scale
    other than one makes (the sampling frequency minus the grating's);
    ``independence_min``: flag when the top-band response over its period-2 mirror is less than
    this many times the first band's leakage into its own period-2 mirror: for a pipeline that keeps
    one sample per 2 px, whatever its upsampler, the two ratios are the same (its 2x2 transfer matrix
    between a frequency and its mirror has rank one), while a model that sees every pixel answers
    the top band on its own;
    ``mismatch_max``: flag when, away from the patterns, the probe outputs differ from the scored
    output by more than this many levels RMS of fine detail plus ``repeat_factor`` times what
    repeated runs of the same input differ by.
    """

    images: int = 2
    patches: int = 16
    patch_size: int = 96
    amplitude: float = 40.0
    response_min: float = 0.0014
    alias_max: float = 0.21
    spurious_max: float = 0.57
    independence_min: float = 3.0
    mismatch_max: float = 1.4
    repeat_factor: float = 2.0
    calibration: str = ""  # how the thresholds were calibrated, shown in reports

    def as_record(self) -> dict:
        """Every setting, JSON-ready (for ingestion.json and reports)."""
        return asdict(self)

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
    # "region/axis" -> first-band gratings' gain at their period-2 mirror over their own gain
    leakage: dict[str, float] = field(default_factory=dict)
    # "region/axis" -> top-band gratings' strongest component at a frequency the input did not
    # change, relative to the first band's gain (as ``gains``)
    spurious: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


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
    spurious: float | None = None  # the strongest partner component over the top-band response
    spurious_at: str | None = None  # where it is
    independence: float | None = None  # the weakest top-band independence of period-2 sampling
    independence_at: str | None = None  # where it is
    flags: tuple[str, ...] = ()  # the checks that flagged (response, alias, spurious, ...), as reasons

    def as_dict(self) -> dict:
        return {**asdict(self), "reasons": list(self.reasons), "notes": list(self.notes),
                "flags": list(self.flags), "frequencies": list(FREQUENCIES)}


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
    kx, ky = _wave_vector(patch)
    return np.exp(1j * (2 * np.pi * ((kx + mirror[0]) * x + (ky + mirror[1]) * y) + patch.phase))


def _wave_vector(patch: Patch) -> tuple[float, float]:
    along = patch.frequency * np.cos(patch.slant)
    across = patch.frequency * np.sin(patch.slant)
    return (along, across) if patch.axis == 0 else (across, along)


def _wrapped(a: np.ndarray, b: float) -> np.ndarray:
    """Distance between frequencies on the periodic frequency axis (cycles/px)."""
    return np.abs((a - b + 0.5) % 1.0 - 0.5)


def _partner(part: np.ndarray, patch: Patch, scale: float) -> float:
    """The strongest component of a grating's windowed output difference ``part`` at a frequency
    the input did not change, in the projection's units (divided by ``scale``): the grating itself,
    its harmonics up to ``_HARMONICS`` and the period-2 mirrors of all of them (with the overall
    brightness) are fitted and removed, and what is left is searched away from their
    neighbourhoods. A model that sees every pixel answers a grating at its own frequency (spread a
    little by the content); resampling at a scale s adds one at the sampling frequency minus it."""
    size = part.shape[0]
    kx, ky = _wave_vector(patch)
    known = [(0.0, 0.0, _NEAR_DC)]
    for mirror in ((0.0, 0.0), *_MIRRORS):
        for n in range(1, _HARMONICS + 1):
            known.append((n * kx + mirror[0], n * ky + mirror[1], _NEAR if n == 1 else _NEAR_HARMONIC))
    fx, fy, radius = (np.array(column)[:, None, None] for column in zip(*known, strict=True))
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    theta = 2 * np.pi * (fx * x + fy * y)
    window = _window(size)
    basis = np.concatenate([window * np.cos(theta), window * np.sin(theta)]).reshape(2 * len(known), -1)
    # least squares through the normal equations (a small system; lstsq copes with coinciding
    # frequencies, e.g. a harmonic that lands on a mirror)
    fit = np.linalg.lstsq(basis @ basis.T, basis @ part.ravel(), rcond=None)[0]
    residual = (part.ravel() - fit @ basis).reshape(size, size)
    magnitude = np.abs(np.fft.fft2(residual, s=(_SPECTRUM, _SPECTRUM))) / scale
    axis = np.fft.fftfreq(_SPECTRUM)
    near = np.zeros(magnitude.shape, bool)
    for sign in (1.0, -1.0):  # the output is real: each component has its conjugate
        distance = (_wrapped(axis[None, None, :], sign * fx) ** 2
                    + _wrapped(axis[None, :, None], sign * fy) ** 2)
        near |= (distance < radius ** 2).any(axis=0)
    return float(magnitude[~near].max())


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
        # the band holds the frequency along the axis (what a reduction along it cuts); the slant
        # adds a small component across it
        along = float(rng.uniform(*BANDS[band]))
        patches.append(Patch(row, col, region, axis, band, along / float(np.cos(slant)), float(slant),
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
    lum = {name: luminance(rgb) for name, rgb in  # float32: exact for uint8 sums and differences
           (("scored", scored), ("plus", plus), ("minus", minus), ("repeat", repeat))}
    size, window = plan.size, _window(plan.size)
    norm = 0.5 * float((window * window).sum())
    difference = lum["plus"] - lum["minus"]  # = 2 a J p + odd-order terms: the content cancels
    found: dict[tuple[str, int, int], list[float]] = {}
    mirrored: dict[tuple[str, int, int], list[float]] = {}  # first and top band only
    partners: dict[tuple[str, int], list[float]] = {}  # top band only
    top = len(BANDS) - 1
    scale = norm * 2 * plan.amplitude
    for patch in plan.patches:
        part = difference[patch.row:patch.row + size, patch.col:patch.col + size].astype(np.float64) * window
        # the complex projection: a model that shifts the image keeps its gain
        found.setdefault((patch.region, patch.axis, patch.band), []).append(
            abs(np.sum(part * np.conj(_wave(size, patch)))) / scale)
        if patch.band in (0, top):
            mirrored.setdefault((patch.region, patch.axis, patch.band), []).append(
                max(abs(np.sum(part * np.conj(_wave(size, patch, m)))) / scale for m in _MIRRORS))
        if patch.band == top:
            partners.setdefault((patch.region, patch.axis), []).append(_partner(part, patch, scale))
    curves: dict[str, list[float | None]] = {}
    aliases: dict[str, float] = {}
    leakage: dict[str, float] = {}
    spurious: dict[str, float] = {}
    low_gains = []
    for region in REGIONS:
        for axis in (0, 1):
            means = [float(np.mean(found[(region, axis, b)])) if (region, axis, b) in found else None
                     for b in range(len(BANDS))]
            if means[0] is None or means[-1] is None:
                continue
            low_gains.append(means[0])
            low = max(means[0], 1e-9)
            name = f"{region}/{AXES[axis]}"
            curves[name] = [None if g is None else round(g / low, 4) for g in means]
            aliases[name] = round(float(np.mean(mirrored[(region, axis, top)])) / low, 4)
            leakage[name] = round(float(np.mean(mirrored[(region, axis, 0)])) / low, 5)
            spurious[name] = round(float(np.mean(partners[(region, axis)])) / low, 5)
    away = _away(plan)
    probe_mean = (lum["plus"] + lum["minus"]) / 2
    detail = {name: _detail(values) for name, values in
              (("mean", probe_mean), ("scored", lum["scored"]), ("repeat", lum["repeat"]))}
    return ProbeMeasurement(
        image=stem, gains=curves, aliases=aliases, leakage=leakage, spurious=spurious,
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
    """The run's verdict from every probed image (their measures averaged per region and axis):
    flagged when, on any region and axis, the top-band response is below ``response_min``, its
    partner component above ``spurious_max``, its period-2 independence below
    ``independence_min`` or its period-2 alias above ``alias_max``; when the probe outputs
    disagree with the scored output more than repeated runs disagree with each other; or when the
    model failed on a probe input. "Not judged" when nothing could be measured. ``flags`` names
    the checks that flagged, in the order of ``reasons``."""
    failures = list(failures or [])
    reasons = [f"the model failed on a probe input: {f}" for f in failures]
    flags = ["failure"] * len(reasons)
    measured = [m for m in measurements if m.gains]
    if not measured:
        return ProbeVerdict(FLAGGED if reasons else NOT_JUDGED, tuple(reasons),
                            notes=() if reasons else ("no image could be probed",), flags=tuple(flags))
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
    partners = {key: _spurious_ratio(measured, key, curves[key][-1]) for key in keys}
    spurious_at = max(partners, key=partners.get)
    spurious = round(partners[spurious_at], 4)
    leaks = {key: _mean_of(measured, "leakage", key) for key in keys}
    independent = {key: _independence(curves[key][-1], alias_curves[key], leaks[key]) for key in keys}
    independence_at = min(independent, key=independent.get)
    independence = round(independent[independence_at], 3)
    if response < settings.response_min:
        region, axis = weakest.split("/")
        flags.append("response")
        reasons.append(f"its response to a grating at {TOP} cycles/px is {response:.4f} "
                       f"of its response at {LOW} ({region}, {axis}; "
                       f"threshold {settings.response_min:.4f}); it responds up to "
                       f"{responds.get(axis, 0.0):.2f} cycles/px")
    if alias > settings.alias_max:
        region, axis = aliased.split("/")
        flags.append("alias")
        reasons.append(f"a grating at {TOP} cycles/px comes back at its period-2 mirror "
                       f"frequency (where decimating by two folds it) with {alias:.2f} of its response at "
                       f"{LOW} ({region}, {axis}; threshold {settings.alias_max:.2f})")
    if spurious > settings.spurious_max:
        region, axis = spurious_at.split("/")
        flags.append("spurious")
        reasons.append(f"a grating at {TOP} cycles/px comes back with a component at a frequency the "
                       f"input did not change, {spurious:.2f} times as strong as its response at the "
                       f"grating's own ({region}, {axis}; threshold {settings.spurious_max:.2f}); "
                       f"resampling at a scale other than one answers with the sampling frequency minus "
                       f"the grating's")
    if independence < settings.independence_min:
        region, axis = independence_at.split("/")
        flags.append("independence")
        reasons.append(f"its response at {TOP} cycles/px over that grating's period-2 mirror is "
                       f"{independence:.2f} times what its {LOW} cycles/px gratings leak into theirs "
                       f"({region}, {axis}; threshold {settings.independence_min:.1f}); for a pipeline "
                       f"that keeps one sample per 2 px the two are the same")

    def noise(m: ProbeMeasurement) -> float:  # how much repeated runs of the model differ
        return min(m.nondeterminism, m.mismatch_repeat)

    worst = max(measurements, key=lambda m: m.mismatch - settings.repeat_factor * noise(m))
    allowed = settings.mismatch_max + settings.repeat_factor * noise(worst)
    if worst.mismatch > allowed:
        flags.append("mismatch")
        reasons.append(f"away from the probe patterns its outputs for the probe inputs differ from its "
                       f"scored output of {worst.image} by {worst.mismatch:.2f} levels RMS of fine detail, "
                       f"while repeated runs differ by {noise(worst):.2f} (allowed {allowed:.2f})")
    notes = []
    unjudged = [region for region in REGIONS if not any(key.startswith(f"{region}/") for key in keys)]
    if unjudged:
        notes.append(f"the {' and the '.join(unjudged)} could not be probed on these images (no room for "
                     f"gratings of both the first and the top band there): a reduction of that region "
                     f"alone is not measured")
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
        round(max(m.nondeterminism for m in measurements), 4), tuple(notes),
        spurious, spurious_at, independence, independence_at, tuple(flags))


def _mean_of(measured: list[ProbeMeasurement], measure: str, key: str) -> float:
    values = [getattr(m, measure)[key] for m in measured if key in getattr(m, measure)]
    return float(np.mean(values)) if values else 0.0


def _spurious_ratio(measured: list[ProbeMeasurement], key: str, response: float | None) -> float:
    """The top band's partner component over its own response (or over the floor, when weaker)."""
    return _mean_of(measured, "spurious", key) / max(response or 0.0, _SPURIOUS_FLOOR)


_INDEPENDENCE_CAP = 1e4  # reported as this when the model shows no period-2 structure at all


def _independence(response: float | None, alias: float, leakage: float) -> float:
    """(top-band response / its period-2 mirror) / (first-band leakage into its mirror): about 1 for
    one sample per 2 px whatever comes after, far above it for a model that sees every pixel."""
    product = alias * leakage
    if product <= 0:
        return _INDEPENDENCE_CAP
    return min(_INDEPENDENCE_CAP, (response or 0.0) / product)
