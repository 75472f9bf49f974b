"""Calibration of the content check: measure honest outputs, suggest thresholds, build a set.

The thresholds of ``aiflash.forensics`` are set from outputs known to be made at full resolution.
Organisers calibrate on their baselines and Phase 1/2 submissions; the shipped defaults come from
``natural_photo_set``: photographs that ship with scikit-image, at native size (never upscaled),
made low-light with noise and JPEG like the sample generator (tools/make_sample_data.py) does,
plus the sample data, each restored by honest full-resolution operators.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

from .atomic import write_text
from .errors import CalibrationError, ProfileError
from .forensics import MEASURES, MINIMA, RATIOS, ForensicsSettings, screen
from .images import is_image_name, read_rgb

# The split of scikit-image's colour photographs (native size, never upscaled), written down once.
# TRAINING_PHOTOS train the learned corpus models (tools/train_guard_corpus.py); VALIDATION_PHOTO
# gives their held-out crops; CALIBRATION_PHOTOS set the shipped thresholds; TEST_PHOTOS (and the
# sample data) are what the tests check, so no threshold was fitted on them.
TRAINING_PHOTOS = ("motorcycle_right", "rocket", "chelsea", "immunohistochemistry")
VALIDATION_PHOTO = "motorcycle_left"
CALIBRATION_PHOTOS = ("rocket", "chelsea", "motorcycle_left", "motorcycle_right", "immunohistochemistry")
TEST_PHOTOS = ("astronaut", "coffee", "hubble_deep_field")
HONEST_OPERATORS = ("identity", "tone_curve", "nl_means", "bilateral", "median", "guided_filter",
                    "full_res_conv")
SHOTS = 3  # low-light captures per photograph
_MARGIN = 0.03  # between the most extreme honest value and the suggested threshold
_RATIO_MARGIN = 1.5  # a ratio measure's threshold: this factor below the lowest honest value, down to 0.1


@dataclass(frozen=True)
class Calibration:
    """Measures of honest outputs and the thresholds suggested from them."""

    values: dict[str, list[float]]  # measure -> one value per honest output
    names: list[str]  # "folder/stem" per output, in the same order
    suggested: ForensicsSettings
    false_flags: int  # honest outputs the suggested settings flag

    def summary(self) -> str:
        """The distributions and the suggestion as printable lines."""
        lines = [f"{len(self.names)} honest outputs"]
        for measure in MEASURES:
            q = np.quantile(self.values[measure], [0.0, 0.05, 0.5, 0.95, 1.0])
            lines.append(f"  {measure:<19} min {q[0]:.3f}  p5 {q[1]:.3f}  median {q[2]:.3f}  "
                         f"p95 {q[3]:.3f}  max {q[4]:.3f}")
        for measure in MEASURES:
            pick = min if measure in MINIMA else max
            worst = pick(range(len(self.names)), key=lambda i, m=measure: self.values[m][i])
            which, value = "lowest" if pick is min else "highest", self.values[measure][worst]
            lines.append(f"  {which} {measure}: {self.names[worst]} ({value:.3f})")
        s = self.suggested
        lines.append("suggested thresholds:")
        lines += [f"  {name}: {value:.2f}" for name, value in s.as_record().items()
                  if name not in ("voting", "false_flag_rate")]
        lines += [f"  voting: [{', '.join(s.voting)}]", f"  false-flag rate: {s.false_flag_rate}"]
        return "\n".join(lines)


def suggest(values: dict[str, list[float]],
            voting: tuple[str, ...] = ForensicsSettings.voting) -> ForensicsSettings:
    """Thresholds just beyond the most extreme honest value of each measure (a 0.03 margin,
    rounded outward to two decimals; for a measure of ``RATIOS``, spanning decades, a factor
    1.5 below the lowest, rounded down to 0.1), with the false-flag rate they have on this set
    stated as an observed count and the rule-of-three 95% upper bound."""
    count = len(values["periodicity"])
    limits = {}
    for measure in MEASURES:
        if measure in RATIOS:
            limits[f"{measure}_min"] = float(np.floor(min(values[measure]) / _RATIO_MARGIN * 10) / 10)
        elif measure in MINIMA:
            limits[f"{measure}_min"] = float(np.floor((min(values[measure]) - _MARGIN) * 100) / 100)
        else:
            limits[f"{measure}_max"] = float(np.ceil((max(values[measure]) + _MARGIN) * 100) / 100)
    settings = ForensicsSettings(voting=tuple(voting), **limits)
    flagged = sum(_flags(settings, values, i) for i in range(count))
    rate = (f"{flagged}/{count} honest outputs flagged on the calibration set "
            f"(95% upper bound {max(flagged, 3) / count:.1%})")
    return ForensicsSettings(voting=tuple(voting), false_flag_rate=rate, **limits)


def _flags(settings: ForensicsSettings, values: dict[str, list[float]], i: int) -> bool:
    return bool(settings.votes({measure: values[measure][i] for measure in MEASURES}))


def calibrate(input_dir: Path, output_dirs: list[Path],
              voting: tuple[str, ...] = ForensicsSettings.voting) -> Calibration:
    """Measure every output in ``output_dirs`` against the input of the same stem in ``input_dir``."""
    inputs = ({p.stem: p for p in sorted(input_dir.iterdir()) if is_image_name(p.name)}
              if input_dir.is_dir() else {})
    if not inputs:
        raise CalibrationError(f"{input_dir}: no input images; pass the folder of the inputs the "
                               f"outputs were made from.")
    values: dict[str, list[float]] = {m: [] for m in MEASURES}
    names: list[str] = []
    for folder in output_dirs:
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if not is_image_name(path.name) or path.stem not in inputs:
                continue
            output, _ = read_rgb(path, error=CalibrationError)
            source, _ = read_rgb(inputs[path.stem], error=CalibrationError)
            result = screen(output, source, None, ForensicsSettings())
            if not result.measures:  # size mismatch: not an output of this input
                raise CalibrationError(f"{path}: size differs from {inputs[path.stem]}; outputs must "
                                       f"keep the input's size.")
            for measure in MEASURES:
                values[measure].append(result.measures[measure])
            names.append(f"{folder.name}/{path.stem}")
    if not names:
        raise CalibrationError(f"no output in {', '.join(map(str, output_dirs))} has an input of the "
                               f"same name in {input_dir}.")
    suggested = suggest(values, voting)
    flagged = sum(_flags(suggested, values, i) for i in range(len(names)))
    return Calibration(values, names, suggested, flagged)


def write_settings(profile_path: Path, settings: ForensicsSettings) -> None:
    """Write ``settings`` as the ``forensics:`` section of a profile YAML (created if missing,
    other sections kept; a new file extends the default profile)."""
    write_section(profile_path, "forensics", settings.as_record())


def write_section(profile_path: Path, section: str, values: dict) -> None:
    """Write ``values`` as the ``section:`` of a profile YAML (created if missing, other sections
    kept; a new file extends the default profile)."""
    raw: dict = {}
    if profile_path.is_file():
        try:
            raw = yaml.safe_load(profile_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ProfileError(f"{profile_path}: cannot read profile ({exc})") from exc
    else:
        raw = {"extends": "default", "name": profile_path.stem,
               "description": f"Default Score with recalibrated {section} thresholds."}
    raw[section] = values
    write_text(profile_path, yaml.safe_dump(raw, sort_keys=False))


# --------------------------------------------------------------------------- the shipped set

def _srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _jpeg_bytes(rgb: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def low_light_capture(photo: np.ndarray, rng: np.random.Generator) -> bytes:
    """A weak-flash phone capture of ``photo`` as JPEG bytes, as tools/make_sample_data.py makes
    its inputs: exposure drop, warm cast, slight lens blur, Poisson-Gaussian noise, quality 92."""
    linear = _srgb_to_linear(photo.astype(np.float32) / 255.0) * 0.13
    linear = cv2.GaussianBlur(linear * np.asarray([1.1, 1.0, 0.7], np.float32), (0, 0), 0.9)
    photons = rng.poisson(np.clip(linear, 0.0, None) * 1200.0).astype(np.float32) / 1200.0
    noisy = photons + rng.normal(0.0, 0.002, linear.shape).astype(np.float32)
    return _jpeg_bytes(_to_uint8(_linear_to_srgb(1.6 * noisy)))


def _guided_filter(guide: np.ndarray, image: np.ndarray, radius: int = 4, eps: float = 1e-3) -> np.ndarray:
    """He, Sun & Tang 2010 guided filter, per channel, at full resolution."""
    guide, image = guide.astype(np.float32) / 255.0, image.astype(np.float32) / 255.0

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, (2 * radius + 1, 2 * radius + 1))

    mean_g, mean_i = box(guide), box(image)
    a = (box(guide * image) - mean_g * mean_i) / (box(guide * guide) - mean_g * mean_g + eps)
    b = mean_i - a * mean_g
    return _to_uint8(box(a) * guide + box(b))


def honest_outputs(capture: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Outputs of full-resolution operators on a capture: nothing is reduced in resolution."""
    bright = _to_uint8(_linear_to_srgb(_srgb_to_linear(capture.astype(np.float32) / 255.0)
                                       * np.asarray([3.8, 4.3, 5.6], np.float32)))
    kernel = rng.normal(0.0, 0.05, (3, 3)).astype(np.float32)
    kernel[1, 1] += 1.0 - kernel.sum()
    return {
        "identity": capture,
        "tone_curve": bright,
        "nl_means": cv2.fastNlMeansDenoisingColored(bright, None, 14, 14, 7, 21),
        "bilateral": cv2.bilateralFilter(bright, 7, 40, 5),
        "median": cv2.medianBlur(bright, 3),
        "guided_filter": _guided_filter(bright, bright),
        "full_res_conv": _to_uint8(cv2.filter2D(bright.astype(np.float32) / 255.0, -1, kernel)),
    }


def photo(name: str) -> np.ndarray:
    """A scikit-image colour photograph by name, HxWx3 uint8 at native size."""
    import skimage.data  # ships the photographs; imported here as only calibration needs it

    if name in ("motorcycle_left", "motorcycle_right"):
        return skimage.data.stereo_motorcycle()[0 if name == "motorcycle_left" else 1]
    return getattr(skimage.data, name)()[..., :3]


def capture_of(photo_rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``low_light_capture`` decoded: the HxWx3 uint8 RGB input a participant gets."""
    data = np.frombuffer(low_light_capture(photo_rgb, rng), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _save_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def learned_outputs(corpus_dir: Path) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """The honest learned models of a rescale corpus folder (``model.py`` with ``KINDS``,
    ``build`` and ``forward``, weights in ``weights/``, as tests/rescale_corpus/learned holds):
    a function from a capture to {"learned_KIND": output}. Imported from the folder, run on CPU."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("aiflash_calibration_learned", corpus_dir / "model.py")
    if spec is None or not (corpus_dir / "model.py").is_file():
        raise CalibrationError(f"{corpus_dir}: no model.py; pass the folder of the learned corpus "
                               f"(tests/rescale_corpus/learned).")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    nets = {kind: module.build(kind, corpus_dir / "weights") for kind in module.KINDS}

    def run(capture: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(capture).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            return {f"learned_{kind}": _to_uint8(module.forward(kind, net, x)[0].permute(1, 2, 0).numpy())
                    for kind, net in nets.items()}

    return run


def natural_photo_set(out: Path, sample_dir: Path | None = None, seed: int = 2026,
                      learned_dir: Path | None = None) -> tuple[Path, list[Path]]:
    """Write the calibration set under ``out``: ``input/NAME_SHOT.jpg`` and
    ``OPERATOR/NAME_SHOT.png`` for three low-light captures of each of ``CALIBRATION_PHOTOS``,
    restored by the honest operators and, with ``learned_dir``, the learned corpus models (and
    with ``sample_dir`` the sample data's inputs, whose ``gt`` is one more honest output). Returns
    the input folder and the output folders."""
    rng = np.random.default_rng(seed)
    (out / "input").mkdir(parents=True, exist_ok=True)
    captures: dict[str, np.ndarray] = {}
    for name in CALIBRATION_PHOTOS:
        photo_rgb = photo(name)
        for shot in range(SHOTS):  # independent noise: the measures' spread, not one draw of it
            stem = f"{name}_{shot}"
            (out / "input" / f"{stem}.jpg").write_bytes(low_light_capture(photo_rgb, rng))
            captures[stem] = read_rgb(out / "input" / f"{stem}.jpg", error=CalibrationError)[0]
    if sample_dir is not None:
        for path in sorted((sample_dir / "input").iterdir()):
            if is_image_name(path.name):
                (out / "input" / path.name).write_bytes(path.read_bytes())
                captures[path.stem] = read_rgb(path, error=CalibrationError)[0]
                gt = sample_dir / "gt" / f"{path.stem}.png"
                if gt.is_file():
                    _save_png(out / "sample_gt" / gt.name, read_rgb(gt, error=CalibrationError)[0])
    learned = learned_outputs(learned_dir) if learned_dir is not None else None
    folders = {operator: out / operator for operator in HONEST_OPERATORS}
    for name, capture in captures.items():
        outputs = honest_outputs(capture, rng)
        if learned is not None:
            outputs.update(learned(capture))
        for operator, output in outputs.items():
            folders.setdefault(operator, out / operator)
            _save_png(out / operator / f"{name}.png", output)
    if (out / "sample_gt").is_dir():
        folders["sample_gt"] = out / "sample_gt"
    return out / "input", list(folders.values())
