"""Hand-made inline SVG plots (no plotting library, no external resources): the pages that show
them stay one self-contained file."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

_FONT = "font-family='system-ui,sans-serif'"
_AXIS = "#8c959f"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low
    step = 10 ** np.floor(np.log10(span / count)) if span > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    first = np.ceil(low / step) * step
    return [float(v) for v in np.arange(first, high + step * 1e-9, step)]


def _padded(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    pad = (high - low) * 0.06 or max(abs(low) * 0.01, 1e-3)
    return low - pad, high + pad


def interval_plot(teams: Sequence[str], value: np.ndarray, low: np.ndarray, high: np.ndarray,
                  tied_with_next: np.ndarray, label: str, css_class: str = "interval-plot") -> str:
    """One row per team (best first): the interval as a bar, the value as a dot; neighbours whose
    order is not significant are joined by an orange "≈" bracket on the left."""
    rows = len(teams)
    row_h, left, right, top, bottom = 22, 150, 20, 10, 34
    width, height = 640, top + bottom + rows * row_h
    x_low, x_high = _padded(np.concatenate([low, high, value]))

    def x(v: float) -> float:
        return left + (v - x_low) / (x_high - x_low) * (width - left - right)

    parts = []
    for tick in _ticks(x_low, x_high):
        parts.append(f"<line x1='{x(tick):.1f}' y1='{top}' x2='{x(tick):.1f}' y2='{height - bottom}' "
                     f"stroke='#eef0f3'/><text x='{x(tick):.1f}' y='{height - bottom + 14}' font-size='10' "
                     f"text-anchor='middle' fill='#57606a'>{tick:g}</text>")
    for i, team in enumerate(teams):
        y = top + (i + 0.5) * row_h
        if i + 1 < rows and tied_with_next[i]:
            parts.append(f"<path class='tie-bracket' d='M{left - 8} {y:.1f} h-6 v{row_h} h6' "
                         f"fill='none' stroke='#e8590c' stroke-width='2'/><text x='{left - 20}' "
                         f"y='{y + row_h / 2 + 4:.1f}' font-size='11' fill='#e8590c' "
                         f"text-anchor='end'>≈</text>")
        parts.append(f"<text x='{left - 30}' y='{y + 4:.1f}' font-size='11' text-anchor='end' "
                     f"fill='#1b1f24'>{html.escape(team[:18])}</text>")
        if np.isfinite(low[i]) and np.isfinite(high[i]):
            parts.append(f"<line x1='{x(low[i]):.1f}' y1='{y:.1f}' x2='{x(high[i]):.1f}' y2='{y:.1f}' "
                         f"stroke='#5b7bd5' stroke-width='5' stroke-linecap='round' opacity='.55'/>")
        parts.append(f"<circle cx='{x(value[i]):.1f}' cy='{y:.1f}' r='3.5' fill='#1f2a44'>"
                     f"<title>{html.escape(team)}: {value[i]:.4f} [{low[i]:.4f}, {high[i]:.4f}]</title>"
                     f"</circle>")
    parts.append(f"<text x='{(left + width - right) / 2}' y='{height - 4}' font-size='11' "
                 f"text-anchor='middle' fill='#30363d'>{html.escape(label)}</text>")
    return (f"<svg class='{css_class}' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
            f"role='img' aria-label='{html.escape(label)}' {_FONT}>{''.join(parts)}</svg>")


def scatter_plot(x_values: np.ndarray, y_values: np.ndarray, labels: Sequence[str], x_label: str,
                 y_label: str, title: str, css_class: str = "scatter-plot") -> str:
    """A labelled scatter plot of one point per team."""
    width, height, left, right, top, bottom = 300, 240, 46, 12, 24, 38
    x_values, y_values = np.asarray(x_values, float), np.asarray(y_values, float)
    x_low, x_high = _padded(x_values)
    y_low, y_high = _padded(y_values)

    def px(v: float) -> float:
        return left + (v - x_low) / (x_high - x_low) * (width - left - right)

    def py(v: float) -> float:
        return height - bottom - (v - y_low) / (y_high - y_low) * (height - top - bottom)

    parts = [f"<text x='{width / 2}' y='14' font-size='11' font-weight='600' text-anchor='middle' "
             f"fill='#1b1f24'>{html.escape(title)}</text>",
             f"<rect x='{left}' y='{top}' width='{width - left - right}' height='{height - top - bottom}' "
             f"fill='none' stroke='{_AXIS}'/>"]
    for tick in _ticks(x_low, x_high, 4):
        parts.append(f"<text x='{px(tick):.1f}' y='{height - bottom + 12}' font-size='9' "
                     f"text-anchor='middle' fill='#57606a'>{tick:g}</text>")
    for tick in _ticks(y_low, y_high, 4):
        parts.append(f"<text x='{left - 4}' y='{py(tick) + 3:.1f}' font-size='9' text-anchor='end' "
                     f"fill='#57606a'>{tick:g}</text>")
    for xv, yv, name in zip(x_values, y_values, labels, strict=True):
        if not (np.isfinite(xv) and np.isfinite(yv)):
            continue
        parts.append(f"<circle cx='{px(xv):.1f}' cy='{py(yv):.1f}' r='3.5' fill='#5b7bd5'>"
                     f"<title>{html.escape(name)}: {xv:.4g}, {yv:.4g}</title></circle>"
                     f"<text x='{px(xv) + 5:.1f}' y='{py(yv) - 4:.1f}' font-size='8' "
                     f"fill='#57606a'>{html.escape(name[:10])}</text>")
    parts.append(f"<text x='{(left + width - right) / 2}' y='{height - 6}' font-size='10' "
                 f"text-anchor='middle' fill='#30363d'>{html.escape(x_label)}</text>"
                 f"<text x='12' y='{(top + height - bottom) / 2}' font-size='10' text-anchor='middle' "
                 f"fill='#30363d' transform='rotate(-90 12 {(top + height - bottom) / 2})'>"
                 f"{html.escape(y_label)}</text>")
    return (f"<svg class='{css_class}' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
            f"role='img' aria-label='{html.escape(title)}' {_FONT}>{''.join(parts)}</svg>")
