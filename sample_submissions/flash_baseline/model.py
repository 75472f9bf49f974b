"""Flash baseline sample submission: a non-learned "strong flash" look, no weights.

What a flash does to a low-light portrait, done by hand in linear light:
1. white balance (grey-world, half strength: a full correction overshoots on coloured scenes);
2. exposure: a gain that brings the person to a mid-grey level and the background to a dimmer one
   (a strong flash lights the subject more than the room), blended through a feathered mask;
3. a soft highlight roll-off instead of hard clipping;
4. an edge-preserving denoise (non-local means): the gains amplify the sensor noise.

Per-image API (recommended): ``Model(weights_dir, device)`` then ``restore(image, person_mask)``
with ``image`` HxWx3 uint8 RGB and ``person_mask`` HxW bool; returns HxWx3 uint8 of the same size.
Everything happens at the input's full resolution (no rescaling: the rules forbid it, and the
ingestion program's guard rejects it). CPU only, a few seconds per 1K image.

Zip the *contents* of this folder (model.py at the zip root) for the final phase.
"""

import cv2
import numpy as np

PERSON_LEVEL = 0.20  # target mean luminance of the person, linear light (about 48% in sRGB)
BACKGROUND_LEVEL = 0.09  # the room stays darker than the subject
MAX_GAIN = 16.0
WHITE_BALANCE_STRENGTH = 0.5
FEATHER_SIGMA = 12.0  # pixels; softens the person/background gain transition
DENOISE_STRENGTH = 16  # cv2.fastNlMeansDenoisingColored h, for noise amplified up to MAX_GAIN


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)


def luminance(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.2126, 0.7152, 0.0722], np.float32)


class Model:
    def __init__(self, weights_dir: str, device: str):
        pass  # nothing to load

    def restore(self, image: np.ndarray, person_mask: np.ndarray) -> np.ndarray:
        linear = srgb_to_linear(image.astype(np.float32) / 255.0)

        means = linear.reshape(-1, 3).mean(0) + 1e-6
        grey_world = means.mean() / means
        linear = linear * (1.0 + WHITE_BALANCE_STRENGTH * (grey_world - 1.0))

        light = luminance(linear)
        person = person_mask if person_mask.any() else np.ones_like(person_mask)
        background = ~person if (~person).any() else person
        person_gain = min(PERSON_LEVEL / (light[person].mean() + 1e-6), MAX_GAIN)
        background_gain = min(BACKGROUND_LEVEL / (light[background].mean() + 1e-6), MAX_GAIN)
        weight = cv2.GaussianBlur(person.astype(np.float32), (0, 0), FEATHER_SIGMA)[..., None]
        linear = linear * (background_gain + weight * (person_gain - background_gain))

        linear = linear / (1.0 + 0.25 * linear)  # soft shoulder: highlights roll off instead of clipping
        linear = linear * 1.25
        out = np.clip(linear_to_srgb(np.clip(linear, 0.0, 1.0)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return cv2.fastNlMeansDenoisingColored(out, None, DENOISE_STRENGTH, DENOISE_STRENGTH, 5, 15)
