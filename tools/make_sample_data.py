"""Generate the procedural sample data in ``reference_data/sample/``.

Four seeded, self-generated scenes stand in for the released NTIRE 2026 AI Flash Portrait data:

* ``gt/NNNN.png``: the strong-flash, retouched target (subject well lit, background dimmer, clean);
* ``input/NNNN.jpg``: the same scene as a phone captures it in low light with a weak flash
  (exposure drop, flatter face lighting, colour cast, slight blur, Poisson-Gaussian noise),
  derived from ``gt`` so the two align pixel for pixel;
* ``mask_personmask/NNNN.png``: binary 8-bit person mask (0 background, 255 person);
* ``results/NNNN.png``: a plausible, imperfect restoration of ``input`` as a team might submit it.

Usage::

    .venv/bin/python tools/make_sample_data.py [--out reference_data/sample]

The output depends only on the seed and on the numpy / OpenCV / Pillow versions.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "reference_data" / "sample"
DEFAULT_SEED = 2026

# Sub-pixel precision of the OpenCV drawing calls (coordinates are scaled by 2**_SHIFT).
_SHIFT = 4

Color = tuple[float, float, float]
Point = tuple[float, float]


@dataclass(frozen=True)
class PersonSpec:
    """Geometry and appearance of one procedural person (fractions are of the image size)."""

    center_x: float
    head_y: float
    head_height: float
    skin: Color
    hair: Color
    clothing: Color
    iris: Color
    long_hair: bool
    fabric: str  # "plain", "stripes" or "knit"
    v_neck: bool


@dataclass(frozen=True)
class SceneSpec:
    """One sample triple: image size, background, people and the weak-flash capture settings."""

    stem: str
    width: int
    height: int
    background: str  # "living_room", "office", "night_street" or "cafe"
    people: tuple[PersonSpec, ...]
    background_level: float  # how much the flash-lit gt dims the background
    cast: Color  # linear RGB gains of the phone's colour cast
    subject_exposure: float  # linear gain on the person in the weak-flash capture
    ambient_exposure: float  # linear gain on the background in the weak-flash capture
    photons: float  # photon count at linear 1.0; lower is noisier


def scene_specs() -> tuple[SceneSpec, ...]:
    """The four sample scenes: two landscape and two portrait 1K frames."""
    return (
        SceneSpec(
            stem="0001",
            width=1024,
            height=768,
            background="living_room",
            people=(
                PersonSpec(
                    center_x=0.56,
                    head_y=0.33,
                    head_height=0.30,
                    skin=(0.90, 0.72, 0.62),
                    hair=(0.30, 0.19, 0.11),
                    clothing=(0.16, 0.50, 0.52),
                    iris=(0.33, 0.42, 0.30),
                    long_hair=True,
                    fabric="knit",
                    v_neck=True,
                ),
            ),
            background_level=0.62,
            cast=(1.18, 1.0, 0.62),
            subject_exposure=0.11,
            ambient_exposure=0.19,
            photons=1200.0,
        ),
        SceneSpec(
            stem="0002",
            width=768,
            height=1024,
            background="office",
            people=(
                PersonSpec(
                    center_x=0.52,
                    head_y=0.30,
                    head_height=0.25,
                    skin=(0.78, 0.56, 0.42),
                    hair=(0.07, 0.06, 0.06),
                    clothing=(0.17, 0.22, 0.38),
                    iris=(0.25, 0.16, 0.10),
                    long_hair=False,
                    fabric="stripes",
                    v_neck=False,
                ),
            ),
            background_level=0.58,
            cast=(0.90, 1.08, 0.74),
            subject_exposure=0.10,
            ambient_exposure=0.16,
            photons=1100.0,
        ),
        SceneSpec(
            stem="0003",
            width=1024,
            height=768,
            background="night_street",
            people=(
                PersonSpec(
                    center_x=0.28,
                    head_y=0.40,
                    head_height=0.22,
                    skin=(0.84, 0.64, 0.50),
                    hair=(0.55, 0.40, 0.22),
                    clothing=(0.62, 0.16, 0.18),
                    iris=(0.30, 0.40, 0.55),
                    long_hair=True,
                    fabric="plain",
                    v_neck=False,
                ),
                PersonSpec(
                    center_x=0.72,
                    head_y=0.37,
                    head_height=0.23,
                    skin=(0.70, 0.50, 0.38),
                    hair=(0.12, 0.09, 0.07),
                    clothing=(0.82, 0.80, 0.74),
                    iris=(0.22, 0.14, 0.09),
                    long_hair=False,
                    fabric="knit",
                    v_neck=True,
                ),
            ),
            background_level=0.70,
            cast=(1.12, 1.0, 0.80),
            subject_exposure=0.09,
            ambient_exposure=0.22,
            photons=1300.0,
        ),
        SceneSpec(
            stem="0004",
            width=768,
            height=1024,
            background="cafe",
            people=(
                PersonSpec(
                    center_x=0.47,
                    head_y=0.33,
                    head_height=0.24,
                    skin=(0.52, 0.35, 0.25),
                    hair=(0.05, 0.04, 0.04),
                    clothing=(0.80, 0.60, 0.16),
                    iris=(0.16, 0.10, 0.07),
                    long_hair=True,
                    fabric="stripes",
                    v_neck=True,
                ),
            ),
            background_level=0.60,
            cast=(1.05, 1.06, 0.70),
            subject_exposure=0.12,
            ambient_exposure=0.18,
            photons=1000.0,
        ),
    )


# --------------------------------------------------------------------------- drawing primitives


def _fixed(points: Sequence[Point] | np.ndarray) -> np.ndarray:
    """Points as the fixed-point int32 array OpenCV expects with ``shift=_SHIFT``."""
    return np.round(np.asarray(points, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)


def ellipse_alpha(
    shape: tuple[int, int],
    center: Point,
    axes: Point,
    angle: float = 0.0,
    arc: tuple[float, float] = (0.0, 360.0),
    thickness: int = -1,
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a filled ellipse (or of an arc when ``thickness > 0``)."""
    canvas = np.zeros(shape, np.uint8)
    center_fx, axes_fx = _fixed(center), _fixed(axes)
    cv2.ellipse(
        canvas,
        tuple(int(v) for v in center_fx),
        tuple(int(max(v, 1)) for v in axes_fx),
        angle,
        arc[0],
        arc[1],
        255,
        thickness,
        cv2.LINE_AA,
        _SHIFT,
    )
    return canvas.astype(np.float32) / 255.0


def polygon_alpha(shape: tuple[int, int], points: Sequence[Point] | np.ndarray) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a filled polygon."""
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [_fixed(points)], 255, cv2.LINE_AA, _SHIFT)
    return canvas.astype(np.float32) / 255.0


def polyline_alpha(
    shape: tuple[int, int], points: Sequence[Point] | np.ndarray, thickness: int
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of an open polyline."""
    canvas = np.zeros(shape, np.uint8)
    cv2.polylines(canvas, [_fixed(points)], False, 255, thickness, cv2.LINE_AA, _SHIFT)
    return canvas.astype(np.float32) / 255.0


def rect_alpha(
    shape: tuple[int, int], left: float, top: float, right: float, bottom: float
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of an axis-aligned rectangle."""
    return polygon_alpha(shape, [(left, top), (right, top), (right, bottom), (left, bottom)])


def paint(canvas: np.ndarray, alpha: np.ndarray, color: Color | np.ndarray) -> None:
    """Composite ``color`` (RGB or an HxWx3 layer) over ``canvas`` in place with ``alpha``."""
    canvas += alpha[..., None] * (np.asarray(color, np.float32) - canvas)


def vertical_gradient(height: int, width: int, top: Color, bottom: Color) -> np.ndarray:
    """HxWx3 linear blend from ``top`` to ``bottom``."""
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(
        (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32),
        (height, width, 3),
    ).copy()


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma: Point, amplitude: float
) -> np.ndarray:
    """Zero-mean low-frequency noise field, ``sigma = (sigma_x, sigma_y)`` in pixels."""
    field = rng.standard_normal(shape).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), sigmaX=sigma[0], sigmaY=sigma[1])
    return field * (amplitude / (field.std() + 1e-8))


def radial_glow(
    shape: tuple[int, int], center: Point, radius: float, color: Color, strength: float
) -> np.ndarray:
    """HxWx3 additive light falling off as a Gaussian around ``center``."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    falloff = np.exp(-((xs - center[0]) ** 2 + (ys - center[1]) ** 2) / (2 * radius**2))
    return falloff[..., None] * (strength * np.asarray(color, np.float32))


def shade(color: Color, factor: float) -> Color:
    """``color`` scaled by ``factor`` (darker below 1)."""
    return (color[0] * factor, color[1] * factor, color[2] * factor)


# --------------------------------------------------------------------------- backgrounds


def render_living_room(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Beige wall, a dusk window with curtain, a sofa, a framed picture and a floor lamp."""
    shape = (height, width)
    scene = vertical_gradient(height, width, (0.82, 0.74, 0.62), (0.70, 0.62, 0.52))
    scene += smooth_noise(rng, shape, (6, 6), 0.012)[..., None]

    floor_top = 0.80 * height
    floor = vertical_gradient(height, width, (0.42, 0.28, 0.17), (0.52, 0.35, 0.21))
    for y in np.arange(floor_top, height, 0.035 * height):
        floor[int(y) : int(y) + 2] *= 0.82
    paint(scene, rect_alpha(shape, 0, floor_top, width, height), floor)
    paint(
        scene, rect_alpha(shape, 0, floor_top - 0.025 * height, width, floor_top), (0.9, 0.88, 0.84)
    )

    left, top, right, bottom = 0.05 * width, 0.10 * height, 0.33 * width, 0.58 * height
    sky = vertical_gradient(height, width, (0.45, 0.55, 0.80), (0.95, 0.72, 0.50))
    paint(
        scene, rect_alpha(shape, left - 12, top - 12, right + 12, bottom + 12), (0.93, 0.92, 0.88)
    )
    paint(scene, rect_alpha(shape, left, top, right, bottom), sky)
    mid_x, mid_y = (left + right) / 2, (top + bottom) / 2
    paint(scene, rect_alpha(shape, mid_x - 5, top, mid_x + 5, bottom), (0.93, 0.92, 0.88))
    paint(scene, rect_alpha(shape, left, mid_y - 5, right, mid_y + 5), (0.93, 0.92, 0.88))

    curtain_left, curtain_right = right + 4, right + 0.09 * width
    xs = np.arange(width, dtype=np.float32)
    folds = 0.78 + 0.22 * np.sin((xs - curtain_left) / (0.012 * width)) ** 2
    curtain = np.broadcast_to(
        folds[None, :, None] * np.asarray((0.62, 0.22, 0.20), np.float32), (height, width, 3)
    )
    paint(scene, rect_alpha(shape, curtain_left, 0.04 * height, curtain_right, floor_top), curtain)

    frame = (0.70 * width, 0.14 * height, 0.84 * width, 0.34 * height)
    paint(scene, rect_alpha(shape, *frame), (0.25, 0.18, 0.12))
    art = vertical_gradient(height, width, (0.30, 0.50, 0.65), (0.75, 0.70, 0.45))
    paint(scene, rect_alpha(shape, frame[0] + 8, frame[1] + 8, frame[2] - 8, frame[3] - 8), art)
    paint(
        scene,
        ellipse_alpha(shape, (0.79 * width, 0.25 * height), (0.025 * width, 0.025 * width)),
        (0.95, 0.85, 0.55),
    )

    sofa_top, sofa_bottom = 0.56 * height, 0.86 * height
    paint(
        scene,
        rect_alpha(shape, 0.16 * width, sofa_top, 0.97 * width, sofa_bottom),
        (0.42, 0.47, 0.40),
    )
    for x in np.linspace(0.16 * width, 0.97 * width, 4)[1:-1]:
        paint(scene, rect_alpha(shape, x - 2, sofa_top, x + 2, 0.72 * height), (0.33, 0.37, 0.31))
    paint(
        scene,
        rect_alpha(shape, 0.16 * width, 0.72 * height, 0.97 * width, 0.74 * height),
        (0.33, 0.37, 0.31),
    )

    lamp_x = 0.92 * width
    paint(
        scene,
        rect_alpha(shape, lamp_x - 3, 0.30 * height, lamp_x + 3, 0.90 * height),
        (0.15, 0.14, 0.13),
    )
    shade_points = [
        (lamp_x - 0.035 * width, 0.18 * height),
        (lamp_x + 0.035 * width, 0.18 * height),
        (lamp_x + 0.06 * width, 0.31 * height),
        (lamp_x - 0.06 * width, 0.31 * height),
    ]
    paint(scene, polygon_alpha(shape, shade_points), (1.0, 0.92, 0.72))
    scene += radial_glow(shape, (lamp_x, 0.30 * height), 0.12 * width, (1.0, 0.75, 0.45), 0.35)
    return scene


def render_office(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Cool grey wall, a bookshelf, a plant, a framed chart and a ceiling light."""
    shape = (height, width)
    scene = vertical_gradient(height, width, (0.66, 0.70, 0.74), (0.56, 0.60, 0.64))
    scene += smooth_noise(rng, shape, (8, 8), 0.010)[..., None]

    shelf_left, shelf_right, shelf_top = 0.0, 0.30 * width, 0.08 * height
    paint(scene, rect_alpha(shape, shelf_left, shelf_top, shelf_right, height), (0.36, 0.24, 0.15))
    palette = np.array(
        [
            (0.70, 0.20, 0.15),
            (0.15, 0.30, 0.55),
            (0.85, 0.75, 0.40),
            (0.20, 0.45, 0.30),
            (0.90, 0.88, 0.82),
            (0.45, 0.20, 0.40),
            (0.15, 0.15, 0.17),
            (0.80, 0.45, 0.20),
        ],
        np.float32,
    )
    shelf_step = 0.17 * height
    for board_y in np.arange(shelf_top + shelf_step, height, shelf_step):
        x = shelf_left + 10
        while True:
            book_width = rng.uniform(0.018, 0.04) * width
            if x + book_width > shelf_right - 10:
                break
            book_height = rng.uniform(0.10, 0.145) * height
            color = palette[rng.integers(len(palette))] * rng.uniform(0.8, 1.05)
            paint(
                scene, rect_alpha(shape, x, board_y - book_height, x + book_width, board_y), color
            )
            x += book_width + rng.uniform(0.5, 2.5)
        paint(
            scene,
            rect_alpha(shape, shelf_left, board_y, shelf_right, board_y + 12),
            (0.46, 0.32, 0.20),
        )

    chart = (0.70 * width, 0.10 * height, 0.94 * width, 0.28 * height)
    paint(scene, rect_alpha(shape, *chart), (0.96, 0.96, 0.95))
    bars = rng.uniform(0.3, 0.95, size=5)
    bar_width = (chart[2] - chart[0] - 20) / len(bars)
    for index, level in enumerate(bars):
        bar_left = chart[0] + 10 + index * bar_width
        bar_top = chart[3] - 8 - level * (chart[3] - chart[1] - 16)
        paint(
            scene,
            rect_alpha(shape, bar_left + 3, bar_top, bar_left + bar_width - 3, chart[3] - 8),
            (0.25, 0.50, 0.75),
        )

    pot_x, pot_top = 0.88 * width, 0.82 * height
    for _ in range(14):
        angle = rng.uniform(-70, 70)
        length = rng.uniform(0.07, 0.13) * height
        theta = np.deg2rad(angle - 90)
        tip = (pot_x + 0.5 * length * np.cos(theta), pot_top + 0.5 * length * np.sin(theta))
        green = (0.12 + rng.uniform(0, 0.1), 0.40 + rng.uniform(0, 0.15), 0.14)
        paint(scene, ellipse_alpha(shape, tip, (0.5 * length, 0.012 * height), angle - 90), green)
    pot = [
        (pot_x - 0.07 * width, pot_top),
        (pot_x + 0.07 * width, pot_top),
        (pot_x + 0.05 * width, height),
        (pot_x - 0.05 * width, height),
    ]
    paint(scene, polygon_alpha(shape, pot), (0.75, 0.42, 0.30))

    scene += radial_glow(
        shape, (0.55 * width, -0.05 * height), 0.30 * width, (0.95, 0.98, 1.0), 0.25
    )
    return scene


def render_night_street(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Dark sky, building silhouettes with lit windows, street lamps and out-of-focus bokeh."""
    shape = (height, width)
    scene = vertical_gradient(height, width, (0.05, 0.07, 0.16), (0.20, 0.16, 0.22))

    x = 0.0
    while x < width:
        building_width = rng.uniform(0.08, 0.18) * width
        building_top = rng.uniform(0.10, 0.45) * height
        tone = rng.uniform(0.07, 0.13)
        paint(
            scene,
            rect_alpha(shape, x, building_top, x + building_width, height),
            (tone, tone, tone * 1.2),
        )
        for wy in np.arange(building_top + 15, 0.78 * height, 0.06 * height):
            for wx in np.arange(x + 10, x + building_width - 20, 0.035 * width):
                if rng.random() < 0.45:
                    glow = (0.95, 0.75 + rng.uniform(-0.1, 0.1), 0.40)
                    paint(
                        scene,
                        rect_alpha(shape, wx, wy, wx + 0.018 * width, wy + 0.03 * height),
                        glow,
                    )
        x += building_width + rng.uniform(2, 12)

    paint(scene, rect_alpha(shape, 0, 0.80 * height, width, height), (0.10, 0.10, 0.11))
    for lamp_x in (0.12 * width, 0.50 * width, 0.90 * width):
        scene += radial_glow(shape, (lamp_x, 0.30 * height), 0.06 * width, (1.0, 0.80, 0.50), 0.9)

    bokeh = np.zeros_like(scene)
    bokeh_colors = [(1.0, 0.70, 0.35), (1.0, 0.30, 0.25), (0.35, 0.90, 0.60), (0.40, 0.75, 1.0)]
    for _ in range(28):
        center = (rng.uniform(0, width), rng.uniform(0.25, 0.85) * height)
        radius = rng.uniform(0.012, 0.035) * width
        color = bokeh_colors[rng.integers(len(bokeh_colors))]
        bokeh += (
            0.45
            * ellipse_alpha(shape, center, (radius, radius))[..., None]
            * np.asarray(color, np.float32)
        )
    scene += cv2.GaussianBlur(bokeh, (0, 0), 3.0)
    return scene


def render_cafe(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Brick wall, a chalkboard menu and pendant lamps with warm light."""
    shape = (height, width)
    scene = np.full((height, width, 3), (0.70, 0.66, 0.60), np.float32)
    row_height, brick_width = 0.045 * height, 0.12 * width
    # Hand-laid courses vary in height: an exactly periodic mortar grid would put spectral peaks
    # into the gt that the resampling forensics (aiflash/forensics.py) rightly find suspicious.
    tops = np.cumsum(row_height * rng.uniform(0.85, 1.15, int(height / row_height) + 2)) - row_height
    for row, top in enumerate(tops[tops < height]):
        offset = rng.uniform(-0.6, -0.4) * brick_width if row % 2 else rng.uniform(-0.1, 0.0) * brick_width
        for left in np.arange(offset, width, brick_width):
            tint = rng.uniform(0.8, 1.1)
            color = (0.58 * tint, 0.30 * tint * rng.uniform(0.9, 1.1), 0.22 * tint)
            paint(
                scene,
                rect_alpha(shape, left + 2, top + 2, left + brick_width - 2, top + row_height - 2),
                color,
            )
    scene += smooth_noise(rng, shape, (2, 2), 0.015)[..., None]

    board = (0.58 * width, 0.10 * height, 0.94 * width, 0.42 * height)
    paint(
        scene,
        rect_alpha(shape, board[0] - 10, board[1] - 10, board[2] + 10, board[3] + 10),
        (0.35, 0.24, 0.14),
    )
    paint(scene, rect_alpha(shape, *board), (0.12, 0.14, 0.13))
    for line_y in np.linspace(board[1] + 30, board[3] - 25, 6):
        line_end = board[0] + rng.uniform(0.5, 0.9) * (board[2] - board[0])
        xs = np.linspace(board[0] + 20, line_end, 24)
        ys = line_y + 3 * np.sin(xs / 7.0 + rng.uniform(0, 6))
        paint(scene, polyline_alpha(shape, np.stack([xs, ys], axis=1), 2), (0.85, 0.85, 0.80))

    for lamp_x in (0.18 * width, 0.52 * width):
        lamp_y = 0.14 * height
        paint(scene, rect_alpha(shape, lamp_x - 1.5, 0, lamp_x + 1.5, lamp_y), (0.05, 0.05, 0.05))
        dome = ellipse_alpha(
            shape, (lamp_x, lamp_y + 0.04 * height), (0.07 * width, 0.05 * height), arc=(180, 360)
        )
        paint(scene, dome, (0.12, 0.13, 0.12))
        scene += radial_glow(
            shape, (lamp_x, lamp_y + 0.06 * height), 0.08 * width, (1.0, 0.78, 0.45), 0.9
        )
    return scene


def render_background(scene: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    """The scene's background, softened as a shallow depth of field would, in sRGB [0, 1]."""
    renderers = {
        "living_room": render_living_room,
        "office": render_office,
        "night_street": render_night_street,
        "cafe": render_cafe,
    }
    background = renderers[scene.background](scene.height, scene.width, rng)
    return cv2.GaussianBlur(np.clip(background, 0, 1), (0, 0), 1.6)


def render_foreground(scene: SceneSpec, canvas: np.ndarray) -> np.ndarray:
    """Paint objects in front of the people; return their coverage (zeros when there are none)."""
    height, width = scene.height, scene.width
    shape = (height, width)
    if scene.background != "cafe":
        return np.zeros(shape, np.float32)
    table_top = 0.84 * height
    table = polygon_alpha(
        shape, [(-10, table_top), (width + 10, table_top), (width + 10, height), (-10, height)]
    )
    wood = vertical_gradient(height, width, (0.50, 0.32, 0.18), (0.36, 0.22, 0.12))
    paint(canvas, table, wood)
    paint(canvas, rect_alpha(shape, -10, table_top, width + 10, table_top + 6), (0.62, 0.42, 0.26))
    cup_x, cup_bottom = 0.88 * width, 0.90 * height
    cup = rect_alpha(
        shape, cup_x - 0.05 * width, cup_bottom - 0.07 * height, cup_x + 0.05 * width, cup_bottom
    )
    cup = np.maximum(cup, ellipse_alpha(shape, (cup_x, cup_bottom), (0.05 * width, 0.012 * height)))
    paint(canvas, cup, (0.92, 0.91, 0.88))
    handle = ellipse_alpha(
        shape,
        (cup_x + 0.06 * width, cup_bottom - 0.035 * height),
        (0.02 * width, 0.022 * height),
        thickness=6,
    )
    paint(canvas, handle, (0.92, 0.91, 0.88))
    rim = ellipse_alpha(shape, (cup_x, cup_bottom - 0.07 * height), (0.05 * width, 0.012 * height))
    paint(canvas, rim, (0.30, 0.18, 0.10))
    return np.maximum.reduce([table, cup, handle])


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class PersonLayers:
    """Coverage maps of one person's parts, all HxW float32 in [0, 1]."""

    torso: np.ndarray
    neckline: np.ndarray
    hair_back: np.ndarray
    hair_locks: np.ndarray
    neck: np.ndarray
    ears: np.ndarray
    face: np.ndarray
    hair_cap: np.ndarray

    @property
    def head(self) -> np.ndarray:
        """Face, ears and hair: the part that gets the rounder flash relief."""
        return np.maximum.reduce(
            [self.face, self.ears, self.hair_cap, self.hair_back, self.hair_locks]
        )

    @property
    def body(self) -> np.ndarray:
        """Neck and torso."""
        return np.maximum.reduce([self.torso, self.neck, self.neckline])

    @property
    def silhouette(self) -> np.ndarray:
        """Everything the person covers."""
        return np.maximum(self.head, self.body)


def chaikin_smooth(points: np.ndarray, iterations: int) -> np.ndarray:
    """Round the corners of an open polyline by Chaikin corner cutting, keeping its end points."""
    for _ in range(iterations):
        starts, ends = points[:-1], points[1:]
        cuts = np.empty((2 * len(starts), 2))
        cuts[0::2] = 0.75 * starts + 0.25 * ends
        cuts[1::2] = 0.25 * starts + 0.75 * ends
        points = np.vstack([points[:1], cuts, points[-1:]])
    return points


def egg_outline(center: Point, semi_width: float, semi_height: float, taper: float) -> np.ndarray:
    """Closed outline of a head: an ellipse whose lower half narrows towards the chin."""
    t = np.linspace(0.0, 2 * np.pi, 180, endpoint=False)
    narrowing = 1.0 - taper * np.clip(np.sin(t), 0.0, None) ** 2
    xs = center[0] + semi_width * np.cos(t) * narrowing
    ys = center[1] + semi_height * np.sin(t)
    return np.stack([xs, ys], axis=1)


def head_frame(person: PersonSpec, height: int, width: int) -> tuple[float, float, float, float]:
    """Centre and semi-axes of the face in pixels: ``(cx, cy, a, b)``."""
    head_height = person.head_height * height
    return person.center_x * width, person.head_y * height, 0.37 * head_height, 0.5 * head_height


def person_layers(person: PersonSpec, height: int, width: int) -> PersonLayers:
    """Lay out one person (head, hair, neck, shoulders) from its spec, in pixels."""
    shape = (height, width)
    cx, cy, a, b = head_frame(person, height, width)
    head_height = 2.0 * b
    neck_base = cy + b + 0.10 * head_height

    half_outline = [
        (0.55 * a, neck_base - 0.10 * head_height),
        (1.30 * a, neck_base + 0.06 * head_height),
        (2.45 * a, neck_base + 0.20 * head_height),
        (2.95 * a, neck_base + 0.45 * head_height),
        (2.90 * a, neck_base + 1.20 * head_height),
        (2.95 * a, float(height)),
    ]
    left = [(cx - dx, y) for (dx, y) in half_outline[::-1]]
    right = [(cx + dx, y) for (dx, y) in half_outline]
    # Corner cutting turns the sparse outline into smooth trapezius-to-shoulder curves.
    outline = chaikin_smooth(np.asarray(left + right), iterations=4)
    bottom = [(cx + 2.95 * a, height + 5.0), (cx - 2.95 * a, height + 5.0)]
    torso = polygon_alpha(shape, np.vstack([outline, bottom]))

    neck = polygon_alpha(
        shape,
        [
            (cx - 0.42 * a, cy + 0.5 * b),
            (cx + 0.42 * a, cy + 0.5 * b),
            (cx + 0.52 * a, neck_base + 0.05 * head_height),
            (cx - 0.52 * a, neck_base + 0.05 * head_height),
        ],
    )
    if person.v_neck:
        neckline = polygon_alpha(
            shape,
            [
                (cx - 0.62 * a, neck_base),
                (cx + 0.62 * a, neck_base),
                (cx, neck_base + 0.50 * head_height),
            ],
        )
    else:
        neckline = ellipse_alpha(
            shape, (cx, neck_base + 0.02 * head_height), (0.62 * a, 0.16 * head_height)
        )
    neckline *= torso

    hair_back = np.zeros(shape, np.float32)
    hair_locks = np.zeros(shape, np.float32)
    if person.long_hair:
        hair_back = polygon_alpha(
            shape, egg_outline((cx, cy + 0.45 * b), 1.22 * a, 1.45 * b, taper=-0.05)
        )
        # Locks in front of the shoulders but clear of the neck, so the hair frames the face.
        for side in (-1.0, 1.0):
            lock = ellipse_alpha(
                shape, (cx + side * 1.02 * a, cy + 1.0 * b), (0.30 * a, 1.15 * b), side * -6
            )
            hair_locks = np.maximum(hair_locks, lock)

    ears = np.maximum(
        ellipse_alpha(shape, (cx - 0.97 * a, cy + 0.08 * b), (0.17 * a, 0.27 * b), -10),
        ellipse_alpha(shape, (cx + 0.97 * a, cy + 0.08 * b), (0.17 * a, 0.27 * b), 10),
    )
    face = polygon_alpha(shape, egg_outline((cx, cy), a, b, taper=0.22))
    cap_outer = ellipse_alpha(shape, (cx, cy - 0.10 * b), (1.08 * a, 1.02 * b))
    cap_inner = ellipse_alpha(shape, (cx, cy + 0.30 * b), (0.92 * a, 0.97 * b))
    hair_cap = (
        cap_outer
        * (1.0 - cap_inner)
        * (1.0 - ellipse_alpha(shape, (cx, cy + 1.1 * b), (2 * a, 0.9 * b)))
    )
    return PersonLayers(torso, neckline, hair_back, hair_locks, neck, ears, face, hair_cap)


def fabric_texture(
    person: PersonSpec, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """HxWx3 clothing colour with folds and the spec's weave pattern."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    folds = 1.0 + smooth_noise(rng, shape, (18, 30), 0.07)
    # Real weaves drift in phase and spacing; an exactly periodic weave would be a sampling-grid
    # look-alike for the resampling forensics (aiflash/forensics.py), which real cloth is not.
    drift = smooth_noise(rng, shape, (25, 25), 1.0)
    if person.fabric == "stripes":
        phase = ys + 6 * np.sin(xs / 90.0) + 0.2 * (0.025 * height) * drift
        stripes = np.sin(2 * np.pi * phase / (0.025 * height))
        pattern = (0.775 + 0.225 * np.tanh(3.0 * (stripes - 0.2))).astype(np.float32)
    elif person.fabric == "knit":
        pattern = 0.92 + 0.08 * np.sin(2 * np.pi * (xs + 4.0 * drift) / 9.0) ** 2
    else:
        pattern = np.ones(shape, np.float32)
    return (folds * pattern)[..., None] * np.asarray(person.clothing, np.float32)


def hair_texture(
    person: PersonSpec, shape: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """HxWx3 hair colour with fine strands."""
    strands = 1.0 + smooth_noise(rng, shape, (1.2, 14), 0.12)
    return strands[..., None] * np.asarray(person.hair, np.float32)


def relief(coverage: np.ndarray, falloff: float, floor: float) -> np.ndarray:
    """Frontal-flash shading of a part: bright in the middle, darker towards its outline.

    A rounded profile ``sqrt(1 - (1 - d)^2)`` of the distance ``d`` to the outline (in units of
    ``falloff``) mimics how a flash on the camera axis lights a roughly cylindrical body.
    """
    inside = (coverage > 0.5).astype(np.uint8)
    if not inside.any():
        return np.ones_like(coverage)
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    d = np.clip(distance / falloff, 0.0, 1.0)
    profile = np.sqrt(1.0 - (1.0 - d) ** 2)
    return (floor + (1.0 - floor) * profile).astype(np.float32)


def paint_face(canvas: np.ndarray, person: PersonSpec) -> None:
    """Eyes with flash catchlights, brows, nose, mouth and cheeks, in place."""
    height, width = canvas.shape[:2]
    shape = (height, width)
    cx, cy, a, b = head_frame(person, height, width)
    stroke = max(2, int(round(0.022 * b)))
    brow_stroke = max(3, int(round(0.05 * b)))

    for side in (-1.0, 1.0):
        eye = (cx + side * 0.40 * a, cy - 0.02 * b)
        white = ellipse_alpha(shape, eye, (0.21 * a, 0.085 * b))
        paint(canvas, white, (0.90, 0.88, 0.86))
        iris = ellipse_alpha(shape, eye, (0.075 * b, 0.075 * b)) * white
        paint(canvas, iris, person.iris)
        paint(canvas, ellipse_alpha(shape, eye, (0.035 * b, 0.035 * b)) * white, (0.03, 0.03, 0.03))
        catchlight = (eye[0] + 0.025 * b, eye[1] - 0.025 * b)
        paint(canvas, ellipse_alpha(shape, catchlight, (0.013 * b, 0.013 * b)), (1.0, 1.0, 1.0))
        lid = ellipse_alpha(
            shape, (eye[0], eye[1] + 0.02 * b), (0.22 * a, 0.11 * b), 0, (195, 345), stroke
        )
        paint(canvas, lid, (0.12, 0.08, 0.07))
        brow = ellipse_alpha(
            shape,
            (eye[0] + side * 0.02 * a, eye[1] - 0.05 * b),
            (0.27 * a, 0.14 * b),
            0,
            (205, 335),
            brow_stroke,
        )
        paint(canvas, brow, shade(person.hair, 0.8))
        blush = ellipse_alpha(shape, (cx + side * 0.52 * a, cy + 0.30 * b), (0.20 * a, 0.12 * b))
        paint(canvas, cv2.GaussianBlur(blush, (0, 0), 0.06 * b) * 0.18, (0.85, 0.40, 0.40))

    nose_side = ellipse_alpha(
        shape, (cx + 0.12 * a, cy + 0.18 * b), (0.08 * a, 0.22 * b), 0, (-80, 80), stroke
    )
    paint(canvas, cv2.GaussianBlur(nose_side, (0, 0), 2.0) * 0.5, shade(person.skin, 0.7))
    for side in (-1.0, 1.0):
        nostril = ellipse_alpha(shape, (cx + side * 0.09 * a, cy + 0.38 * b), (0.06 * a, 0.028 * b))
        paint(canvas, nostril * 0.7, shade(person.skin, 0.45))

    lips = (person.skin[0] * 0.85, person.skin[1] * 0.52, person.skin[2] * 0.55)
    mouth = (cx, cy + 0.60 * b)
    paint(canvas, ellipse_alpha(shape, mouth, (0.30 * a, 0.085 * b)), lips)
    line = ellipse_alpha(
        shape, (mouth[0], mouth[1] - 0.10 * b), (0.30 * a, 0.10 * b), 0, (30, 150), stroke
    )
    paint(canvas, line, shade(lips, 0.5))


def render_person(
    canvas: np.ndarray, person: PersonSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Paint one flash-lit person over ``canvas`` in place; return (coverage, flash relief).

    The relief (1 outside the person) is what a strong on-axis flash adds to the shape of the
    subject; the weak-flash input undoes part of it to look flatter.
    """
    height, width = canvas.shape[:2]
    shape = (height, width)
    layers = person_layers(person, height, width)
    cx, cy, a, b = head_frame(person, height, width)
    head_height = 2.0 * b
    skin = np.asarray(person.skin, np.float32)
    skin_layer = (1.0 + smooth_noise(rng, shape, (10, 10), 0.025))[..., None] * skin
    hair_layer = hair_texture(person, shape, rng)

    paint(canvas, layers.hair_back, hair_layer)
    paint(canvas, layers.torso, fabric_texture(person, shape, rng))
    for side in (-1.0, 1.0):
        armpit = (cx + side * 2.25 * a, cy + b + 1.0 * head_height)
        crease = polyline_alpha(shape, [armpit, (cx + side * 2.32 * a, height + 5.0)], 3)
        paint(canvas, cv2.GaussianBlur(crease, (0, 0), 3.0) * layers.torso * 0.6, (0.0, 0.0, 0.0))
    paint(canvas, layers.neckline, skin_layer * 0.92)
    paint(canvas, layers.hair_locks, hair_layer * 0.95)
    below_chin = (np.arange(height, dtype=np.float32) - (cy + b)) / (0.12 * head_height)
    chin_shadow = 1.0 - 0.25 * np.clip(1.0 - below_chin, 0.0, 1.0)
    paint(canvas, layers.neck, skin_layer * 0.92 * chin_shadow[:, None, None])
    paint(canvas, layers.ears, skin_layer * 0.93)
    paint(canvas, layers.face, skin_layer)
    paint_face(canvas, person)
    paint(canvas, layers.hair_cap, hair_layer)

    head_relief = relief(layers.head, 0.28 * head_height, floor=0.55)
    body_relief = relief(layers.body, 0.35 * head_height, floor=0.50)
    head = layers.head
    person_relief = head * head_relief + (1.0 - head) * body_relief
    coverage = layers.silhouette
    person_relief = 1.0 + coverage * (person_relief - 1.0)
    canvas *= person_relief[..., None]

    for center, radius in (
        ((cx, cy - 0.28 * head_height), 0.10),
        ((cx, cy + 0.14 * head_height), 0.04),
    ):
        canvas += (
            radial_glow(shape, center, radius * head_height, (1.0, 1.0, 1.0), 0.08)
            * layers.face[..., None]
        )
    return coverage, person_relief


def cast_shadow(background: np.ndarray, coverage: np.ndarray, scene: SceneSpec) -> None:
    """Darken the wall behind the people with the soft offset shadow an on-camera flash throws."""
    shift = np.float32([[1, 0, 0.018 * scene.width], [0, 1, 0.012 * scene.height]])
    shadow = cv2.warpAffine(coverage, shift, (scene.width, scene.height))
    shadow = cv2.GaussianBlur(shadow, (0, 0), 0.012 * scene.width)
    background *= (1.0 - 0.35 * shadow)[..., None]


# --------------------------------------------------------------------------- gt, input, results


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 decoding of sRGB values in [0, 1]."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(
        np.float32
    )


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 encoding of linear values, clipped to [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(
        linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055
    ).astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] image rounded to 8 bits."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def render_ground_truth(
    scene: SceneSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render the strong-flash target; return (gt uint8 RGB, person mask uint8, flash relief)."""
    shape = (scene.height, scene.width)
    canvas = render_background(scene, rng)
    silhouettes = [
        person_layers(person, scene.height, scene.width).silhouette for person in scene.people
    ]
    everyone = np.maximum.reduce(silhouettes) if len(silhouettes) > 1 else silhouettes[0]
    # The flash falls off with distance, so the wall behind the subject ends up dimmer.
    canvas *= scene.background_level
    cast_shadow(canvas, everyone, scene)

    coverage = np.zeros(shape, np.float32)
    flash_relief = np.ones(shape, np.float32)
    for person in scene.people:
        person_coverage, person_relief = render_person(canvas, person, rng)
        coverage = np.maximum(coverage, person_coverage)
        flash_relief *= person_relief
    occluder = render_foreground(scene, canvas)
    person_mask = np.where((coverage > 0.5) & (occluder <= 0.5), 255, 0).astype(np.uint8)
    return to_uint8(canvas), person_mask, flash_relief


def simulate_weak_flash_capture(
    gt: np.ndarray,
    person_mask: np.ndarray,
    flash_relief: np.ndarray,
    scene: SceneSpec,
    rng: np.random.Generator,
) -> np.ndarray:
    """The same scene as a phone shoots it in low light with a weak flash (uint8 RGB).

    Everything happens in linear light: the weak flash lights the subject less than the ambient
    light lights the room, flattens the subject's relief, and the sensor adds a colour cast,
    lens blur and signal-dependent (Poisson) plus read (Gaussian) noise.
    """
    linear = srgb_to_linear(gt.astype(np.float32) / 255.0)
    linear /= flash_relief[..., None] ** 0.5
    subject = cv2.GaussianBlur((person_mask > 0).astype(np.float32), (0, 0), 0.02 * scene.width)
    exposure = scene.ambient_exposure + (scene.subject_exposure - scene.ambient_exposure) * subject
    linear *= exposure[..., None] * np.asarray(scene.cast, np.float32)
    linear = cv2.GaussianBlur(linear, (0, 0), 0.9)

    photons = rng.poisson(np.clip(linear, 0.0, None) * scene.photons).astype(np.float32)
    noisy = photons / scene.photons + rng.normal(0.0, 0.002, linear.shape).astype(np.float32)
    # A phone ISP brightens a dark frame a little before encoding it.
    return to_uint8(linear_to_srgb(1.6 * noisy))


def enhance_capture(capture: np.ndarray) -> np.ndarray:
    """A plausible but imperfect team result: global exposure and white balance, then denoising.

    The gains are the inverse of a typical capture (as a model fitted to many pairs would learn),
    not of this one, so some colour cast and exposure error remain; being global, they also
    cannot undo the flatter subject lighting or the brighter background of the weak-flash shot.
    """
    typical_inverse_gain = np.asarray([3.8, 4.3, 5.6], np.float32)
    linear = srgb_to_linear(capture.astype(np.float32) / 255.0) * typical_inverse_gain
    brightened = to_uint8(linear_to_srgb(linear))
    return cv2.fastNlMeansDenoisingColored(brightened, None, 14, 14, 7, 21)


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR in dB between two uint8 images."""
    mse = np.mean((reference.astype(np.float64) - estimate.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(255.0**2 / max(mse, 1e-12)))


def check_person_mask(person_mask: np.ndarray, scene: SceneSpec) -> None:
    """Fail loudly if a mask is not binary, has the wrong number of people or is too small."""
    if not set(np.unique(person_mask).tolist()) <= {0, 255}:
        raise ValueError(f"{scene.stem}: person mask is not binary")
    count, _ = cv2.connectedComponents((person_mask > 0).astype(np.uint8))
    if count - 1 != len(scene.people):
        raise ValueError(f"{scene.stem}: {count - 1} mask blobs for {len(scene.people)} people")
    ys, xs = np.nonzero(person_mask)
    if xs.max() - xs.min() + 1 < 200 or ys.max() - ys.min() + 1 < 200:
        raise ValueError(f"{scene.stem}: person bounding box is smaller than 200 px")


# --------------------------------------------------------------------------- files


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an 8-bit RGB or grayscale PNG with maximum lossless compression."""
    Image.fromarray(image).save(path, format="PNG", optimize=True)


def save_jpeg(path: Path, image: np.ndarray, quality: int = 92) -> None:
    """Write an 8-bit RGB baseline JPEG without chroma subsampling."""
    Image.fromarray(image).save(path, format="JPEG", quality=quality, subsampling=0, optimize=True)


SOURCE_MD = """\
# Sample data: provenance

Everything in this folder is **self-generated, no third-party content**: procedural scenes drawn
by `tools/make_sample_data.py` with a fixed seed (numpy `Generator`, seed {seed}). No photographs,
no `skimage.data` images, no models or downloaded assets were used. It is released under the
repository's licence (BSD-2-Clause).

It stands in for the NTIRE 2026 AI Flash Portrait data so the scorer, the ingestion program and
the tests can run anywhere; the images are synthetic and say nothing about real restoration quality.

## Regenerate

```
.venv/bin/python tools/make_sample_data.py --out reference_data/sample
```

The output depends only on the seed and on the numpy, OpenCV and Pillow versions.

## Contents

Four triples, `0001`..`0004`; `0001` and `0003` are 1024x768 (landscape), `0002` and `0004`
768x1024 (portrait). All images of one stem have the same size.

- `gt/NNNN.png`: the target, a strong-flash, retouched portrait: the person well lit, clean,
  natural colour; the background dimmer.
- `input/NNNN.jpg`: the same scene as a phone shoots it in low light with a weak flash, derived
  from `gt` pixel for pixel: exposure drop, flatter lighting on the person, a warm or green
  colour cast, slight blur, Poisson-Gaussian noise, JPEG (quality 92).
- `mask_personmask/NNNN.png`: 8-bit single-channel person mask, 0 background, 255 person.
  `0003` has two people (two blobs); in `0004` a table hides the lower body; elsewhere the
  person reaches the bottom border.
- `results/NNNN.png`: a sample submission: the input brightened and white-balanced with fixed
  global gains, then denoised (non-local means). Closer to `gt` than `input` is, but not equal.

Scenes: `0001` living room with a dusk window and floor lamp; `0002` office with a bookshelf;
`0003` two people in a night street with bokeh; `0004` café with a brick wall behind a table.
"""


def write_scene(scene: SceneSpec, out: Path, seed: int) -> dict[str, float]:
    """Render one triple plus its sample result into ``out``; return its PSNRs against gt."""
    # One generator per scene keeps each triple stable when scenes are added or reordered.
    rng = np.random.default_rng([seed, int(scene.stem)])
    gt, person_mask, flash_relief = render_ground_truth(scene, rng)
    check_person_mask(person_mask, scene)
    capture = simulate_weak_flash_capture(gt, person_mask, flash_relief, scene, rng)
    input_path = out / "input" / f"{scene.stem}.jpg"
    save_jpeg(input_path, capture)
    # Enhance what a team actually receives: the decoded JPEG, not the pristine capture.
    received = np.asarray(Image.open(input_path).convert("RGB"))
    result = enhance_capture(received)

    save_png(out / "gt" / f"{scene.stem}.png", gt)
    save_png(out / "mask_personmask" / f"{scene.stem}.png", person_mask)
    save_png(out / "results" / f"{scene.stem}.png", result)
    return {"input": psnr(gt, received), "results": psnr(gt, result)}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Generate every sample scene and report how far input and results are from gt."""
    args = parse_args(argv)
    for folder in ("input", "gt", "mask_personmask", "results"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    (args.out / "SOURCE.md").write_text(SOURCE_MD.format(seed=args.seed), encoding="utf-8")
    for scene in scene_specs():
        scores = write_scene(scene, args.out, args.seed)
        print(
            f"{scene.stem} {scene.width}x{scene.height}: PSNR(input, gt) {scores['input']:.2f} dB, "
            f"PSNR(results, gt) {scores['results']:.2f} dB"
        )


if __name__ == "__main__":
    main()
