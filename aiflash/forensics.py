"""Resampling forensics: does an output carry the pixel signature of a resolution round trip?

The content check (layer 1 of the no-rescale guard) compares each output with its input. A model
that reduces the resolution and enlarges the result back leaves two traces that no code hook has
to see:

* **periodicity**: interpolation makes neighbouring pixels linear combinations of fewer source
  samples, so the local difference energy varies with the period of the resampling grid
  (Popescu & Farid 2005, "Exposing digital forgeries by detecting traces of resampling", IEEE TSP
  53(2); Kirchner 2008, "Fast and reliable resampling detection by spectral analysis of fixed
  linear predictor residue", ACM MM&Sec; Gallagher 2005, "Detection of linear and cubic
  interpolation in JPEG compressed images", CRV). We measure the peaks of the spectrum of the
  mean absolute first and second differences, 0.2-0.5 cycles/px, in the output *relative to the
  input's* (the input is a JPEG whose 8-px blocks have their own peaks at k/8).
* **lost detail**: a reduced representation cannot carry frequencies above its Nyquist limit, so
  the input's detail above half-Nyquist does not come back coherently (spectral source-resolution
  estimation, e.g. Kirchner & Gloe 2009, "On resampling detection in re-compressed images", and
  the upscaling-detection literature built on it). We measure the part of the output's spectrum
  above 0.25 cycles/px that is *coherent* with the input's (a regression gain per frequency
  ring), relative to the same gain at mid frequencies; noise added after an upscale is not
  coherent with the input and does not raise it.
* **a spectral cliff**: an ideal (Fourier, sinc) resampler leaves no periodic trace but cuts the
  spectrum at the reduced image's Nyquist frequency; the output's power spectrum then falls by
  orders of magnitude over a few bins, where natural images and denoisers roll off smoothly
  (source-resolution estimation from the spectrum).
* **folded dependence**: a reduction to scale s folds the input's content about s/2 cycles/px,
  and everything the enlargement puts just above the fold is made from the same reduced samples
  as what lies just below it. Regressed on the input at f and at its mirror s - f, the output's
  two frequencies then form a rank-1 2x2 transfer (the output at f depends on the input's mirror
  exactly as the output at s - f depends on the input at f). Noise added afterwards is not
  coherent with the input and leaves the regression unchanged; JPEG and a median weaken it.
  Honest full-resolution processing has no mirror term; a sub-pixel decoder's phase imbalance
  has one at s = 1/2, but it answers f from the input at f too, so its transfer stays full rank.

Every measure is a pure function of arrays. The check only ever *flags* an image for the
organisers' review; it never rejects by itself (the audit of ``restore()`` calls is what rejects a
proven round trip). Thresholds and the measures that vote come from the scoring profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# scipy (~0.4 s to import) is imported inside the functions that use it: a scoring run with no
# input/ beside gt/ never screens, and its start-up is on every submission's critical path.

CLEAN, FLAGGED, REJECTED = "clean", "flagged", "rejected"
VERDICTS = (CLEAN, FLAGGED, REJECTED)
_RANK = {verdict: rank for rank, verdict in enumerate(VERDICTS)}

MEASURES = ("periodicity", "offgrid_periodicity", "spectral_cliff", "detail_coherence", "fold_independence",
            "hf_coherence")
MIN_SIDE = 64  # px: below this the spectra hold too few samples to judge; such images pass unjudged


@dataclass(frozen=True)
class ForensicsSettings:
    """Thresholds of the content check (the profile's ``forensics:`` section).

    ``periodicity_max``: flag when the strongest line in the output's difference spectrum
    (0.2-0.5 cycles/px) exceeds the input's at that frequency by more than this (log10 units of
    peak over spectrum median). ``offgrid_periodicity_max``: the same for lines away from the
    k/8 cycles/px lattice, where stride-2/4/8 sub-pixel decoders (PixelShuffle, transposed
    convolutions) put their own lines. ``spectral_cliff_max``: flag when the output's power
    spectrum drops more steeply than the input's by more than this (log10 units over 0.015
    cycles/px). ``hf_coherence_min``: flag when less than this share of the input's coherent
    detail above half-Nyquist reappears in the output. ``detail_coherence_min``: flag when less
    than this share of the input's detail at 0.13-0.22 cycles/px comes back *and* a
    pixel-difference line rises above ``offgrid_periodicity_max`` (the level textures reach in
    full-resolution outputs) anywhere in 0.2-0.5 cycles/px, lattice or not. ``voting`` names the
    measures that may flag; the others are computed and reported only.
    ``fold_independence_min``: flag when, about some fold frequency, the output's detail depends
    on the input's mirrored detail as a single reduced sample makes it (``fold_independence``
    below this; ~1 after a round trip).
    """

    periodicity_max: float = 1.26
    hf_coherence_min: float = -0.02
    voting: tuple[str, ...] = ("periodicity", "offgrid_periodicity", "spectral_cliff", "detail_coherence",
                               "fold_independence")
    false_flag_rate: str = ""  # how the thresholds were calibrated, shown in reports
    spectral_cliff_max: float = 0.3
    offgrid_periodicity_max: float = 0.53
    detail_coherence_min: float = 0.15
    fold_independence_min: float = 2.0

    def threshold(self, measure: str) -> float:
        """The threshold of ``measure`` (a maximum, or for ``hf_coherence`` a minimum)."""
        return getattr(self, _THRESHOLDS[measure])

    def exceeds(self, measure: str, value: float) -> bool:
        """Whether ``value`` of ``measure`` is beyond its threshold (whether or not it votes)."""
        if measure in MINIMA:
            return value < self.threshold(measure)
        return value > self.threshold(measure)

    def votes(self, measures: dict[str, float]) -> list[str]:
        """The voting measures that flag an image with these ``measures`` (in MEASURES order)."""
        flags = []
        for name in MEASURES:
            if name not in self.voting or not self.exceeds(name, measures[name]):
                continue
            if name == "detail_coherence" and measures["periodicity"] <= self.offgrid_periodicity_max:
                continue
            flags.append(name)
        return flags

    def as_record(self) -> dict:
        """Every setting, JSON-ready (for ingestion.json, reports and profiles)."""
        return {**{name: self.threshold(m) for m, name in _THRESHOLDS.items()},
                "voting": list(self.voting), "false_flag_rate": self.false_flag_rate}

    @classmethod
    def from_mapping(cls, raw: dict | None) -> ForensicsSettings:
        """Settings from the profile's ``forensics:`` mapping (missing keys keep the defaults)."""
        raw = dict(raw or {})
        voting = tuple(raw.get("voting", cls.voting))
        unknown = set(voting) - set(MEASURES)
        if unknown:
            raise ValueError(f"unknown forensics measures {sorted(unknown)} (known: {', '.join(MEASURES)})")
        return cls(voting=voting, false_flag_rate=str(raw.get("false_flag_rate", "")),
                   **{name: float(raw.get(name, getattr(cls, name))) for name in _THRESHOLDS.values()})


_THRESHOLDS = {"periodicity": "periodicity_max", "offgrid_periodicity": "offgrid_periodicity_max",
               "spectral_cliff": "spectral_cliff_max", "detail_coherence": "detail_coherence_min",
               "fold_independence": "fold_independence_min", "hf_coherence": "hf_coherence_min"}
MINIMA = ("detail_coherence", "fold_independence", "hf_coherence")  # measures whose threshold is a minimum
# measures that span decades (fold_independence: ~1 after a round trip, 1000 with no mirror term),
# calibrated by a factor below the most extreme honest value rather than a margin
RATIOS = ("fold_independence",)


@dataclass(frozen=True)
class Screening:
    """The content check's result for one image: verdict, JSON-ready measures, reasons if flagged."""

    verdict: str
    measures: dict[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()


def worst_verdict(*verdicts: str) -> str:
    """The most serious of several verdicts (clean < flagged < rejected); clean if none given."""
    return max(verdicts, key=_RANK.__getitem__, default=CLEAN)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an HxWx3 uint8 RGB image as float32 in [0, 255]."""
    return cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)


_PERIODIC_BAND = (0.2, 0.5)  # cycles/px: where 1.25x-5x resampling grids put their peaks
_BACKGROUND_FROM = 0.05  # cycles/px: the spectrum median above this is the "no peak" level
_TILE = 64
# ring (cycles/px) and the reference ring it is read against; 0.45: below the corners where JPEG
# noise dominates
_COHERENCE_RINGS = {"hf_coherence": ((0.25, 0.45), (0.06, 0.15)),
                    "detail_coherence": ((0.13, 0.22), (0.03, 0.08))}
_DETAILED_TILES = 0.1  # share of tiles (most input detail first) that the coherence is read on
_LATTICE_TOLERANCE = 0.01  # cycles/px around k/8: a strong line's skirt reaches this far


def difference_spectrum(luma: np.ndarray, axis: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and peak-to-median spectrum of the mean absolute ``order``-th pixel difference
    along ``axis``, averaged over the other axis (Gallagher 2005; Kirchner 2008 §3).

    Interpolated pixels are linear combinations of their neighbours, so their differences are
    smaller than those of pixels that fall on the source grid; averaged over a whole image this
    periodic modulation becomes a line in the spectrum at the resampling grid's frequency.
    """
    return _profile_spectrum(np.abs(np.diff(luma, n=order, axis=axis)).mean(axis=1 - axis))


def _difference_profiles(luma: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Mean absolute first and second differences along each axis: {(axis, order): profile}
    (the second difference computed from the first, each array taken once)."""
    profiles = {}
    for axis in (0, 1):
        first = np.diff(luma, axis=axis)
        second = np.diff(first, axis=axis)
        profiles[(axis, 1)] = np.abs(first, out=first).mean(axis=1 - axis)
        profiles[(axis, 2)] = np.abs(second, out=second).mean(axis=1 - axis)
    return profiles


def _profile_spectrum(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import scipy.fft
    profile = profile - profile.mean()
    spectrum = np.abs(scipy.fft.rfft(profile * np.hanning(profile.size).astype(np.float32)))
    freqs = np.arange(spectrum.size) / profile.size
    background = float(np.median(spectrum[freqs >= _BACKGROUND_FROM])) if spectrum.size > 8 else 0.0
    return freqs, spectrum / max(background, 1e-9)


def _at(freqs: np.ndarray, peaks: np.ndarray, frequency: float) -> float:
    return float(peaks[int(np.argmin(np.abs(freqs - frequency)))])


def _discount_lost_grid(freqs: np.ndarray, out_peaks: np.ndarray, src_peaks: np.ndarray) -> np.ndarray:
    """The input's peaks at its JPEG grid's harmonics (k/8), scaled down by how much of that
    grid the output kept: its 0.375 cycles/px harmonic is no resampling frequency for factors
    1.5, 2 or 4, so an output that lost the grid there (a resize does) gets no credit for the
    input's 0.25 and 0.5 peaks, where a 2x or 4x round trip puts its own."""
    kept = _at(freqs, out_peaks, 0.375) / max(_at(freqs, src_peaks, 0.375), 1.0)
    if kept >= 1.0:
        return src_peaks
    discounted = src_peaks.copy()
    for harmonic in (0.25, 0.5):
        near = np.abs(freqs - harmonic) <= 1.5 / (2 * (freqs.size - 1))
        discounted[near] = np.maximum(src_peaks[near] * kept, 1.0)
    return discounted


def periodicity_lines(output: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (0.2-0.5 cycles/px, 1/2048 apart) and how far the output's difference-spectrum
    lines rise above the input's there (log10 peak-to-median, the larger of first and second
    differences, mean of both axes).

    Output luma and input luma (HxW float32). For first and second differences, the spectra of
    both axes are compared with the input's at each frequency (a peak the input already has, like
    its JPEG 8-px grid, does not count) and averaged over the two axes (a rescale works on both; a
    periodic texture seldom lines up on both). Popescu & Farid 2005 (IEEE TSP 53(2)); Kirchner 2008
    (ACM MM&Sec); Gallagher 2005 (CRV).
    """
    from scipy.ndimage import maximum_filter1d
    grid = np.arange(_PERIODIC_BAND[0], _PERIODIC_BAND[1] + 1e-9, 1 / 2048)
    best = np.full(grid.size, -np.inf)
    out_profiles, src_profiles = _difference_profiles(output), _difference_profiles(source)
    for order in (1, 2):
        excess = []
        for axis in (0, 1):
            freqs, out_peaks = _profile_spectrum(out_profiles[(axis, order)])
            _, src_peaks = _profile_spectrum(src_profiles[(axis, order)])
            # one bin of tolerance: the same peak may straddle two bins in the two images
            out_peaks = maximum_filter1d(out_peaks, 3)
            src_peaks = maximum_filter1d(src_peaks, 3)
            src_peaks = _discount_lost_grid(freqs, out_peaks, src_peaks)
            ratio = np.log10(np.maximum(out_peaks, 1e-9)) - np.log10(np.maximum(src_peaks, 1.0))
            excess.append(np.interp(grid, freqs, ratio))
        best = np.maximum(best, np.mean(excess, axis=0))
    return grid, best


def on_decoder_lattice(freqs: np.ndarray) -> np.ndarray:
    """Frequencies within 0.01 cycles/px of a multiple of 1/8: where the period-2, -4 and -8
    lattices of stride-2/4/8 sub-pixel decoders (PixelShuffle, transposed convolutions) put
    lines, and where 2x and 4x interpolation put theirs too."""
    return np.abs(freqs * 8 - np.round(freqs * 8)) <= _LATTICE_TOLERANCE * 8


def _strongest(freqs: np.ndarray, excess: np.ndarray, keep: np.ndarray | None = None) -> tuple[float, float]:
    """(largest excess, floored at 0, and its frequency) over ``keep``."""
    if keep is not None:
        freqs, excess = freqs[keep], excess[keep]
    at = int(np.argmax(excess))
    return max(0.0, float(excess[at])), float(freqs[at])


def periodicity(output: np.ndarray, source: np.ndarray) -> float:
    """The strongest line of ``periodicity_lines``: ~0 for outputs made at full resolution, ~1 or
    more (a 10x peak) after a resize, and 1-1.5 for some honest sub-pixel decoders too (their
    phases come out slightly sharper or softer than each other, at period 2 or 4)."""
    return _strongest(*periodicity_lines(output, source))[0]


def offgrid_periodicity(output: np.ndarray, source: np.ndarray) -> float:
    """The strongest line of ``periodicity_lines`` away from the k/8 decoder lattice
    (``on_decoder_lattice``): what resampling by a factor whose period is not a power of two
    (scale 0.9, 0.8, 2/3, 1/3...) leaves and no stride-2/4/8 decoder does."""
    freqs, excess = periodicity_lines(output, source)
    return _strongest(freqs, excess, ~on_decoder_lattice(freqs))[0]


_CLIFF_BAND = (0.08, 0.46)  # cycles/px: cut-offs of 1.1x-6x reductions
_CLIFF_WIDTH = 0.015  # cycles/px on each side of a candidate cut-off


def _log_power(luma: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and log10 power spectrum along ``axis``, averaged over the other axis."""
    import scipy.fft
    # every other line is plenty for the mean spectrum and halves the cost
    luma = luma[::2] if axis == 1 else luma[:, ::2]
    window = np.hanning(luma.shape[axis]).astype(np.float32)
    window = window[None, :] if axis == 1 else window[:, None]
    centred = luma - luma.mean(axis=axis, keepdims=True)
    spectrum = scipy.fft.rfft(centred * window, axis=axis)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).mean(axis=1 - axis)
    return np.arange(power.size) / luma.shape[axis], np.log10(power + 1e-6)


def _steps(luma: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Drop of the mean log power across each grid frequency (just below minus just above),
    averaged over both axes."""
    drops = []
    for axis in (0, 1):
        freqs, log_power = _log_power(luma, axis)
        cumulative = np.concatenate([[0.0], np.cumsum(log_power)])
        low, mid, high = (np.searchsorted(freqs, grid + shift)
                          for shift in (-_CLIFF_WIDTH, 0.0, _CLIFF_WIDTH))
        below = (cumulative[mid] - cumulative[low]) / np.maximum(mid - low, 1)
        above = (cumulative[high] - cumulative[mid]) / np.maximum(high - mid, 1)
        drops.append(below - above)
    return np.mean(drops, axis=0)


def cliff_steps(output: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (0.08-0.46 cycles/px) and how much more steeply the output's spectrum falls
    than the input's at each (log10 power, mean over 0.015 cycles/px below minus above).

    Output luma and input luma (HxW float32). A reduction by s cuts everything above 0.5/s
    cycles/px; an ideal (Fourier) enlargement back adds nothing there, so the output's spectrum
    falls off a cliff (noise added afterwards only fills it to the noise floor). Natural images,
    denoisers and tone curves roll off smoothly. Source-resolution estimation from the spectrum,
    cf. Kirchner & Gloe 2009 (Proc. SPIE 7254); Popescu & Farid 2005 (IEEE TSP 53(2)) §IV on
    band-limited interpolation.
    """
    grid = np.arange(_CLIFF_BAND[0], _CLIFF_BAND[1], 1 / 1024)
    return grid, _steps(output, grid) - np.maximum(_steps(source, grid), 0.0)


def spectral_cliff(output: np.ndarray, source: np.ndarray) -> float:
    """The steepest excess drop of ``cliff_steps``: ~0.1 for natural images and denoisers, ~0.6
    or more after a Fourier round trip."""
    return _strongest(*cliff_steps(output, source))[0]


def _tiles(luma: np.ndarray) -> np.ndarray:
    """The image as (count, 64, 64) tiles (the ragged right and bottom edges left out)."""
    height, width = (n - n % _TILE for n in luma.shape)
    tiles = luma[:height, :width].reshape(height // _TILE, _TILE, width // _TILE, _TILE)
    return tiles.transpose(0, 2, 1, 3).reshape(-1, _TILE, _TILE)


def _tile_spectra(tiles: np.ndarray) -> np.ndarray:
    import scipy.fft
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    window = np.outer(np.hanning(_TILE), np.hanning(_TILE)).astype(np.float32)
    return scipy.fft.rfft2(tiles * window, axes=(1, 2))


def coherent_gains(output: np.ndarray, source: np.ndarray) -> dict[str, float]:
    """The regression gain of output on input spectra per frequency ring, relative to a lower
    ring so global tone and exposure changes cancel: {"hf_coherence": 0.25-0.45 over 0.06-0.15
    cycles/px, "detail_coherence": 0.13-0.22 over 0.03-0.08 cycles/px}.

    Output luma and input luma (HxW float32, at least 64x64). Read on the tenth of 64-px tiles
    where the input has most fine detail (mean |Laplacian|): the real part of the cross-spectrum
    over the input's power. Noise added after a resize is not coherent with the input and leaves
    the gains unchanged. ~1 for an output that keeps the input's detail in that ring, ~0.1 or
    less when the ring lies above the Nyquist limit of a reduced copy (0.25 cycles/px for 2x,
    0.125 for 4x). Source-resolution estimation from the spectrum: Kirchner & Gloe 2009 (Proc.
    SPIE 7254); Popescu & Farid 2005.
    """
    import scipy.fft
    # the input's most detailed tiles, by mean |Laplacian| (a cheap stand-in for the fine band)
    detail = _tiles(np.abs(cv2.Laplacian(source, cv2.CV_32F))).mean(axis=(1, 2))
    chosen = detail >= np.quantile(detail, 1 - _DETAILED_TILES)
    src, out = _tile_spectra(_tiles(source)[chosen]), _tile_spectra(_tiles(output)[chosen])
    radius = np.hypot(scipy.fft.fftfreq(_TILE)[:, None], scipy.fft.rfftfreq(_TILE)[None, :])
    power = src.real ** 2 + src.imag ** 2
    cross = src.real * out.real + src.imag * out.imag

    def gain(band: tuple[float, float]) -> float:
        ring = (radius >= band[0]) & (radius < band[1])
        return float(cross[:, ring].sum() / max(power[:, ring].sum(), 1e-9))

    gains = {}
    for name, (band, reference) in _COHERENCE_RINGS.items():
        reference_gain = gain(reference)
        gains[name] = gain(band) / reference_gain if abs(reference_gain) > 1e-6 else 0.0
    return gains


def hf_coherence(output: np.ndarray, source: np.ndarray) -> float:
    """Share of the input's fine detail (0.25-0.45 cycles/px) that comes back coherently
    (``coherent_gains``). Not a vote: a restoration much cleaner than a noisy low-light input
    legitimately drops the input's fine-scale noise, which dominates that ring, and scores as low
    as a 2x round trip."""
    return coherent_gains(output, source)["hf_coherence"]


def detail_coherence(output: np.ndarray, source: np.ndarray) -> float:
    """Share of the input's detail at 0.13-0.22 cycles/px that comes back coherently
    (``coherent_gains``): kept by denoisers and sub-pixel decoders (0.3-1), lost by a 4x (or
    stronger) reduction (~0.1). It votes together with ``periodicity``: see
    ``ForensicsSettings``."""
    return coherent_gains(output, source)["detail_coherence"]


_FOLD_SEGMENT = 240  # px: segments whose bins hold the folds of scales k/240 exactly (0.9, 0.8, 2/3, 1/2)
_FOLD_SCALES = (0.21, 0.965)  # the scales whose folds are searched (fold at scale/2 cycles/px)
_FOLD_ABOVE = (0.008, 0.05)  # cycles/px above the fold: where an enlargement's images are strongest
_FOLD_REFERENCE = (0.03, 0.1)  # cycles/px: the direct gain the mirror gain is read against
_FOLD_MIRROR_MIN = 0.01  # mirror gain (of the reference gain) below which a fold is not judged
_FOLD_SIGNIFICANCE = 5.0  # standard errors both mirror gains must lie from zero for a fold to be judged
_JPEG_EVIDENT = 10.0  # independence at an odd multiple of 1/16 cycles/px that shows JPEG's own folds
_FOLD_COHERENCE_MIN = 0.5  # output-input coherence at 0.03-0.1 cycles/px below which an axis is not judged
FOLD_CAP = 1000.0  # reported when no fold carries a mirror term (and the most a fold can score)


def _segment_spectra(luma: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Hann-windowed spectra (bins 0 to ``size``/2) of every other line's ``size``-px segments along
    ``axis``."""
    import scipy.fft
    lines = (luma if axis == 1 else luma.T)[::2]
    width = lines.shape[1] // size * size
    segments = lines[:, :width].reshape(-1, size)
    segments = segments - segments.mean(axis=1, keepdims=True)
    return scipy.fft.rfft(segments * np.hanning(size + 1)[:-1].astype(np.float32), axis=1)


def _pair_sums(x: np.ndarray, y: np.ndarray, above: np.ndarray,
               below: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin pair (k above, j below): sums over segments of X_k X_j, Y_k X_j and Y_j X_k, one
    elementwise product per bin offset k - j (no matrix product: BLAS threads would contend with
    the model's on a shared core, for 20 offsets of work)."""
    xx, yx, xy = (np.zeros(above.size, complex) for _ in range(3))
    offsets = above - below
    for offset in np.unique(offsets):
        chosen = offsets == offset
        j = below[chosen]
        for total, left, right in ((xx, x, x), (yx, y, x), (xy, x, y)):
            total[chosen] = (left[:, offset:] * right[:, :right.shape[1] - offset]).sum(axis=0)[j]
    return xx, yx, xy


def fold_dependence(output: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold frequencies (cycles/px), the output's mirror gain at each and its independence, mean
    of both axes.

    Output luma and input luma (HxW float32). Along each axis, in 240-px segments (fewer on a
    small image), the output just above a fold φ (0.008-0.05 cycles/px above it) is regressed
    jointly on the input at the same frequency f and at its mirror 2φ - f, and the output at the
    mirror on the same two: gains [[a, b], [B, A]]. ``mirror`` is |b| over the output's direct gain
    at 0.03-0.1 cycles/px. ``independence`` is |a·A| / |b·B|: a reduction to scale 2φ makes both
    output frequencies from the same reduced samples, so its transfer has rank one (~1, whatever
    the interpolators, and noise added afterwards does not change the expectation); an output
    made at full resolution has no mirror term (b, B ~ 0) or answers each frequency from the
    input at that frequency too (a sub-pixel decoder's phase imbalance at φ = 0.25: 3-6 on the
    most lattice-bound network of the corpus, 138 and up on the others). A fold is judged where
    both mirror gains lie 5 standard errors from zero. Cyclostationarity of
    resampled signals: Gardner 1991 (IEEE SP Magazine 8(2)); Mahdian & Saic 2008 (IEEE TIFS 3(3)).
    """
    mirrors, independences = [], []
    sizes = (_FOLD_SEGMENT, _FOLD_SEGMENT // 2, _FOLD_SEGMENT // 4)
    size = next((n for n in sizes if min(output.shape) >= n), sizes[-1])
    folds = np.arange(int(np.ceil(_FOLD_SCALES[0] * size)), int(_FOLD_SCALES[1] * size) + 1)
    freqs = np.arange(size // 2 + 1) / size
    # every (fold, bin above it, its mirror below) at once: twice the fold frequency, in bins, is
    # the sum of the two bins
    start, stop = folds[:, None] / (2 * size) + _FOLD_ABOVE[0], folds[:, None] / (2 * size) + _FOLD_ABOVE[1]
    which, above = np.nonzero((freqs > start) & (freqs < np.minimum(stop, 0.5)))
    below = folds[which] - above
    low = (freqs >= _FOLD_REFERENCE[0]) & (freqs < _FOLD_REFERENCE[1])

    def per_fold(values: np.ndarray) -> np.ndarray:  # complex sums over each fold's pairs
        return (np.bincount(which, values.real, folds.size)
                + 1j * np.bincount(which, values.imag, folds.size))

    for axis in (0, 1):
        x, y = _segment_spectra(source, axis, size), _segment_spectra(output, axis, size)
        x_power, y_energy = (np.abs(x) ** 2).sum(axis=0), (np.abs(y) ** 2).sum(axis=0)
        yx_direct = (y * x.conj()).sum(axis=0)  # sums over segments of Y_k conj(X_k)
        reference = abs(float(yx_direct[low].real.sum() / max(x_power[low].sum(), 1e-9)))
        coherence = (abs(complex(yx_direct[low].sum())) ** 2
                     / max(float(x_power[low].sum()) * float(y_energy[low].sum()), 1e-30))
        mirror, independence = np.zeros(folds.size), np.full(folds.size, FOLD_CAP)
        if reference >= 1e-3 and coherence >= _FOLD_COHERENCE_MIN:  # else the output is no image of the input
            # regressors: the input at f and the conjugate of the input at its mirror 2φ - f
            xx, yx, xy = _pair_sums(x, y, above, below)
            cross = np.conj(per_fold(xx))
            g11, g22 = per_fold(x_power[above]).real, per_fold(x_power[below]).real
            det = g11 * g22 - np.abs(cross) ** 2
            rhs_above = (per_fold(yx_direct[above]), per_fold(yx))
            rhs_below = (np.conj(per_fold(xy)),
                         np.conj(per_fold(yx_direct[below])))
            solvable = det > 1e-12 * g11 * g22
            det = np.where(solvable, det, 1.0)
            a = (g22 * rhs_above[0] - cross * rhs_above[1]) / det
            b = (g11 * rhs_above[1] - np.conj(cross) * rhs_above[0]) / det
            big_b = (g22 * rhs_below[0] - cross * rhs_below[1]) / det
            big_a = (g11 * rhs_below[1] - np.conj(cross) * rhs_below[0]) / det
            # how many standard errors the two mirror gains lie from zero (residuals of each fit)
            count = np.maximum(np.bincount(which, minlength=folds.size) * x.shape[0] - 2, 1)
            y_above, y_below = per_fold(y_energy[above]).real, per_fold(y_energy[below]).real
            rss_above = y_above - (np.conj(rhs_above[0]) * a + np.conj(rhs_above[1]) * b).real
            rss_below = y_below - (np.conj(rhs_below[0]) * big_b + np.conj(rhs_below[1]) * big_a).real
            z_b = np.abs(b) / np.sqrt(np.maximum(rss_above, 1e-30) / count * g11 / det)
            z_big_b = np.abs(big_b) / np.sqrt(np.maximum(rss_below, 1e-30) / count * g22 / det)
            solvable &= np.minimum(z_b, z_big_b) >= _FOLD_SIGNIFICANCE
            mirror = np.where(solvable, np.abs(b) / reference, 0.0)
            ratio = np.abs(a * big_a) / np.maximum(np.abs(b * big_b), 1e-30)
            independence = np.where(solvable, np.minimum(ratio, FOLD_CAP), FOLD_CAP)
        mirrors.append(mirror)
        independences.append(independence)
    return folds / (2 * size), np.mean(mirrors, axis=0), np.mean(independences, axis=0)


def _fold_weakest(output: np.ndarray, source: np.ndarray) -> tuple[float, float]:
    """(the lowest independence among folds with a significant mirror gain above 0.01, capped at
    1000, and its fold frequency; 1000 and 0 when no fold has one).

    JPEG compression of the output is itself block-periodic (8 px) and folds about every multiple
    of 1/16 cycles/px. When a fold at an odd multiple, where no 2x or 4x round trip folds, shows
    that dependence (independence below 10), the output was JPEG-compressed after it was made and
    the folds of that lattice are not judged: on them JPEG's trace and a 2x or 4x round trip's
    look alike."""
    folds, mirror, independence = fold_dependence(output, source)
    judged = mirror > _FOLD_MIRROR_MIN
    step = folds[1] - folds[0]  # the folds' spacing: 1/480 cycles/px on a 240-px segment
    on_jpeg_lattice = np.abs(folds - np.round(folds * 16) / 16) <= 1.01 * step
    odd = on_jpeg_lattice & (np.round(folds * 16) % 2 == 1)
    if (judged & odd).any() and independence[judged & odd].min() < _JPEG_EVIDENT:
        judged &= ~on_jpeg_lattice
    if not judged.any():
        return FOLD_CAP, 0.0
    at = int(np.argmin(np.where(judged, independence, np.inf)))
    return float(independence[at]), float(folds[at])


def fold_independence(output: np.ndarray, source: np.ndarray) -> float:
    """The least independent fold of ``fold_dependence`` that carries a mirror term: ~1 after a
    round trip through a reduced copy (noise, JPEG or a median after included, at 2x and 4x),
    138 and more for the honest designs of the corpus but the pure sub-pixel lattice (3-6), 1000
    (the cap) when the output has no mirror term at all."""
    return _fold_weakest(output, source)[0]


def screen(output: np.ndarray, source: np.ndarray, person: np.ndarray | None,
           settings: ForensicsSettings) -> Screening:
    """Screen one output (HxWx3 uint8 RGB) against its input (same shape).

    ``person`` (HxW bool or None) is accepted for masks-aware measures; the verdict is ``clean``
    or ``flagged``, never ``rejected``. Each reason says what was measured against which
    threshold (not what it is presumed to mean: honest designs can leave the same lines). Images
    under 64 px on a side are not judged (clean, no measures).
    """
    if output.shape != source.shape:
        return Screening(FLAGGED, {}, (f"output size {output.shape[1]}x{output.shape[0]} differs from "
                                       f"the input's {source.shape[1]}x{source.shape[0]}",))
    if min(output.shape[:2]) < MIN_SIDE:
        return Screening(CLEAN, {}, ())
    out_y, src_y = luminance(output), luminance(source)
    freqs, lines = periodicity_lines(out_y, src_y)
    found = {"periodicity": _strongest(freqs, lines),
             "offgrid_periodicity": _strongest(freqs, lines, ~on_decoder_lattice(freqs)),
             "spectral_cliff": _strongest(*cliff_steps(out_y, src_y)),
             "fold_independence": _fold_weakest(out_y, src_y),
             **{name: (gain, 0.0) for name, gain in coherent_gains(out_y, src_y).items()}}
    measures = {name: round(found[name][0], 4) for name in MEASURES}
    reasons = tuple(_reason(name, measures, found[name][1], settings) for name in settings.votes(measures))
    return Screening(FLAGGED if reasons else CLEAN, measures, reasons)


def _reason(measure: str, measures: dict[str, float], frequency: float, settings: ForensicsSettings) -> str:
    """What was measured, where, against which threshold."""
    value, threshold = measures[measure], settings.threshold(measure)
    where = f"{frequency:.3f} cycles/px (period {1 / frequency:.2f} px)" if frequency else ""
    if measure == "periodicity":
        return (f"line in the pixel-difference spectrum at {where} {value:.2f} above the input's "
                f"(log10), threshold {threshold:.2f}")
    if measure == "offgrid_periodicity":
        return (f"line in the pixel-difference spectrum off the k/8 lattice at {where} {value:.2f} "
                f"above the input's (log10), threshold {threshold:.2f}")
    if measure == "spectral_cliff":
        return (f"power spectrum falls {value:.2f} (log10) more steeply than the input's at "
                f"{frequency:.3f} cycles/px, threshold {threshold:.2f}")
    if measure == "detail_coherence":
        return (f"{value:.2f} of the input's detail at 0.13-0.22 cycles/px comes back coherently "
                f"(threshold {threshold:.2f}) with a pixel-difference line {measures['periodicity']:.2f} "
                f"above the input's (threshold {settings.offgrid_periodicity_max:.2f})")
    if measure == "fold_independence":
        return (f"output detail just above {frequency:.3f} cycles/px depends on the input's detail "
                f"mirrored below it as one reduced sample would make both (independence {value:.2f}, "
                f"threshold {threshold:.2f}; ~1 after a round trip)")
    return (f"{value:.2f} of the input's detail at 0.25-0.45 cycles/px comes back coherently, "
            f"threshold {threshold:.2f}")
