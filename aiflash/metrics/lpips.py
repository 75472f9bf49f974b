"""LPIPS v0.1 (AlexNet) on the person's bounding box (spec §2, ``LPIPS_person``).

Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018,
computed with the authors' ``lpips`` package; the backbone comes from our offline weights.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import ReferenceDataError, WeightsError
from ..lpips_weights import LINEAR_SHA256, load_backbone, tensor_digest

BOX_MARGIN = 8
MIN_SIDE = 31  # AlexNet's receptive field chain needs at least this many pixels per side


def person_box(person: np.ndarray, margin: int = BOX_MARGIN) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) half-open box around person pixels, grown by ``margin`` pixels
    on every side and clipped to the image; None if there is no person pixel."""
    rows = np.flatnonzero(person.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(person.any(axis=0))
    height, width = person.shape
    return (max(0, rows[0] - margin), min(height, rows[-1] + 1 + margin),
            max(0, cols[0] - margin), min(width, cols[-1] + 1 + margin))


@contextmanager
def _without_random_init(torch):
    """Skip torch's random weight initialisation while LPIPS is built (~0.3 s, mostly AlexNet's
    classifier, which LPIPS discards): every weight it keeps is then loaded from disk and checked."""
    init = torch.nn.init
    names = ("kaiming_uniform_", "uniform_", "normal_", "constant_", "zeros_", "ones_")
    saved = {name: getattr(init, name) for name in names}
    for name in names:
        setattr(init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(init, name, function)


class LpipsAlex:
    """LPIPS-Alex v0.1 built once (weights from disk) and reused for every image."""

    def __init__(self, device: str = "cpu") -> None:
        import warnings

        import lpips
        import torch

        with warnings.catch_warnings(), _without_random_init(torch):
            # torchvision's deprecation notes about `pretrained=`; no weights are fetched
            # (pnet_rand=True) and the backbone is loaded from disk below.
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
        backbone = load_backbone()
        with torch.no_grad():
            for name, param in model.net.named_parameters():
                param.copy_(backbone["features." + name.split(".", 1)[1]])
        # The linear layers come from the lpips package's own file: check they are the pinned ones.
        linear = [lin.model[-1].weight.detach().numpy() for lin in model.lins]
        if tensor_digest(linear) != LINEAR_SHA256:
            raise WeightsError("the lpips package's v0.1 linear layers differ from the pinned ones; "
                               "reinstall it with `make setup` (lpips==0.1.4).")
        # channels_last: oneDNN's fastest convolution layout on CPU (~8% here), same numbers.
        self.model = model.eval().requires_grad_(False).to(device, memory_format=torch.channels_last)
        self.device = device
        self._normalize = lpips.normalize_tensor

    def distance(self, result: np.ndarray, gt: np.ndarray) -> float:
        """LPIPS distance between two HxWx3 uint8 RGB crops of the same shape (0 if identical).

        Both crops go through the backbone as one batch of two; the arithmetic after it is the
        package's own (unit-normalised features, squared difference, linear layer, spatial mean).
        """
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.stack([result, gt])).to(self.device)
            batch = batch.permute(0, 3, 1, 2).float() / 127.5 - 1.0
            batch = self.model.scaling_layer(batch).contiguous(memory_format=torch.channels_last)
            features = self.model.net.forward(batch)
            total = torch.zeros((), device=self.device)
            for lin, feature in zip(self.model.lins, features, strict=True):
                unit = self._normalize(feature)
                total = total + lin((unit[0:1] - unit[1:2]) ** 2).mean()
            return float(total)


def person_lpips(model: LpipsAlex, result: np.ndarray, gt: np.ndarray, person: np.ndarray,
                 margin: int = BOX_MARGIN, name: str = "") -> float | None:
    """LPIPS between the person-box crops of ``result`` and ``gt``; None if no person pixel."""
    box = person_box(person, margin)
    if box is None:
        return None
    top, bottom, left, right = box
    if min(bottom - top, right - left) < MIN_SIDE:
        raise ReferenceDataError(
            f"{name or 'mask'}: person box {bottom - top}x{right - left} px is smaller than "
            f"{MIN_SIDE} px on a side, too small for LPIPS-Alex; fix the mask."
        )
    return model.distance(result[top:bottom, left:right], gt[top:bottom, left:right])
