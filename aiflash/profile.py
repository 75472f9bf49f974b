"""Scoring profiles: every constant of the Score formula lives in a YAML file, not in code."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from .errors import ProfileError
from .forensics import ForensicsSettings
from .probe import ProbeSettings

SCORED_METRICS = ("LPIPS_person", "DeltaE_person", "PSNR_bg", "SSIM_global")
EXTRA_METRICS = ("CIEDE2000_person",)
COMPONENTS = ("LPIPS_person", "DeltaE_person", "GlobalScore")


@dataclass(frozen=True)
class MetricRange:
    low: float
    high: float
    higher_is_better: bool


@dataclass(frozen=True)
class StatisticsSettings:
    """How sure the ranking is (issue 12): bootstrap size, confidence level, seed, and the
    probability below which two neighbours are shown as tied (``statistics`` in the YAML)."""

    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 2026
    tie_threshold: float = 0.95  # P(upper neighbour truly ahead) below this: shown as tied
    method: str = "percentile"  # bootstrap interval: "percentile" or "BCa" (scipy.stats.bootstrap)

    @classmethod
    def from_raw(cls, raw: dict | None, source: str) -> StatisticsSettings:
        raw = dict(raw or {})
        unknown = set(raw) - {"resamples", "confidence", "seed", "tie_threshold", "method"}
        if unknown:
            raise ProfileError(f"{source}: unknown statistics setting(s) {sorted(unknown)} (known: "
                               f"resamples, confidence, seed, tie_threshold, method)")
        default = cls()
        try:
            settings = cls(int(raw.get("resamples", default.resamples)),
                           float(raw.get("confidence", default.confidence)),
                           int(raw.get("seed", default.seed)),
                           float(raw.get("tie_threshold", default.tie_threshold)),
                           str(raw.get("method", default.method)))
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"{source}: malformed statistics settings ({exc})") from exc
        if settings.resamples < 100:
            raise ProfileError(f"{source}: statistics.resamples must be at least 100")
        if not 0.5 < settings.confidence < 1 or not 0.5 <= settings.tie_threshold < 1:
            raise ProfileError(f"{source}: statistics.confidence and tie_threshold must lie in (0.5, 1)")
        if settings.method not in ("percentile", "BCa"):
            raise ProfileError(f"{source}: statistics.method must be percentile or BCa")
        return settings


@dataclass(frozen=True)
class OutputConsistency:
    """Tolerances for comparing reproduced result images with the online ones (default.yaml's
    ``output_consistency``; used by ``aiflash reproduce --online-outputs`` and ``--repeat``)."""

    min_psnr_db: float = 40.0
    max_abs_diff: int = 16
    differ_share: float = 0.05
    worst_images: int = 3


def _output_consistency(raw: dict | None) -> OutputConsistency:
    if raw is None:
        return OutputConsistency()
    values = OutputConsistency(float(raw["min_psnr_db"]), int(raw["max_abs_diff"]),
                               float(raw["differ_share"]), int(raw["worst_images"]))
    if not (values.min_psnr_db > 0 and 0 <= values.max_abs_diff <= 255 and 0 <= values.differ_share < 1
            and values.worst_images >= 1):
        raise ValueError("output_consistency needs min_psnr_db > 0, 0 <= max_abs_diff <= 255, "
                         "0 <= differ_share < 1 and worst_images >= 1")
    return values


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    ranges: dict[str, MetricRange]
    exponent: float
    global_weights: dict[str, float]
    base_weights: dict[str, float]
    sensitivity: float
    score_offset: float
    score_scale: float
    lpips_box_margin: int
    extra_metrics: tuple[str, ...] = ()
    final_ranking: dict = field(default_factory=dict)
    statistics: StatisticsSettings = field(default_factory=StatisticsSettings)
    source: str = ""
    forensics: ForensicsSettings = field(default_factory=ForensicsSettings)
    output_consistency: OutputConsistency = field(default_factory=OutputConsistency)
    probe: ProbeSettings = field(default_factory=ProbeSettings)


def _builtin(name: str) -> dict:
    text = resources.files("aiflash.profiles").joinpath(f"{name}.yaml")
    if not text.is_file():
        raise ProfileError(f"unknown profile '{name}'; built-in profiles: {', '.join(builtin_names())}")
    return yaml.safe_load(text.read_text())


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("aiflash.profiles").iterdir()
                  if p.name.endswith(".yaml"))


def _raw(spec: str) -> tuple[dict, str]:
    path = Path(spec)
    if spec.endswith((".yaml", ".yml")) or path.is_file():
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ProfileError(f"{path}: cannot read profile ({exc})") from exc
        source = str(path)
    else:
        raw, source = _builtin(spec), spec
    if not isinstance(raw, dict):
        raise ProfileError(f"{source}: a profile must be a YAML mapping")
    parent = raw.pop("extends", None)
    if parent:
        base, _ = _raw(parent)
        base.update(raw)
        raw = base
    return raw, source


def load_profile(spec: str = "default") -> Profile:
    """Load a built-in profile by name ('default', 'extended') or a YAML file by path."""
    raw, source = _raw(spec)
    try:
        ranges = {
            key: MetricRange(float(v["min"]), float(v["max"]), bool(v["higher_is_better"]))
            for key, v in raw["metrics"].items()
        }
        weights = raw["adaptive_weights"]
        profile = Profile(
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            ranges=ranges,
            exponent=float(raw["exponent"]),
            global_weights={k: float(v) for k, v in raw["global_score"].items()},
            base_weights={k: float(v) for k, v in weights["base"].items()},
            sensitivity=float(weights["sensitivity"]),
            score_offset=float(raw["score"]["offset"]),
            score_scale=float(raw["score"]["scale"]),
            lpips_box_margin=int(raw["lpips_box_margin"]),
            extra_metrics=tuple(raw.get("extra_metrics") or ()),
            final_ranking=dict(raw.get("final_ranking") or {}),
            statistics=StatisticsSettings.from_raw(raw.get("statistics"), source),
            source=source,
            forensics=ForensicsSettings.from_mapping(raw.get("forensics")),
            output_consistency=_output_consistency(raw.get("output_consistency")),
            probe=ProbeSettings.from_mapping(raw.get("probe")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProfileError(f"{source}: malformed profile ({type(exc).__name__}: {exc})") from exc
    problems = []
    if set(profile.ranges) != set(SCORED_METRICS):
        problems.append(f"metrics must be exactly {', '.join(SCORED_METRICS)}")
    if any(r.high <= r.low for r in profile.ranges.values()):
        problems.append("every metric range needs max > min")
    if set(profile.global_weights) != {"PSNR_bg", "SSIM_global"}:
        problems.append("global_score must weight PSNR_bg and SSIM_global")
    if set(profile.base_weights) != set(COMPONENTS):
        problems.append(f"adaptive_weights.base must weight {', '.join(COMPONENTS)}")
    unknown = set(profile.extra_metrics) - set(EXTRA_METRICS)
    if unknown:
        problems.append(f"unknown extra metrics {sorted(unknown)} (known: {', '.join(EXTRA_METRICS)})")
    if problems:
        raise ProfileError(f"{source}: " + "; ".join(problems))
    return profile
