"""LPIPS v0.1 (AlexNet) on the person's bounding box (spec §2, ``LPIPS_person``).

Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018.
The network is the authors' ``lpips`` package's v0.1 AlexNet with our offline, digest-checked
weights (backbone and linear layers, aiflash/lpips_weights.py). On the CPU it runs as ONNX graphs
written from those weights (lpips_graph.py) on ONNX Runtime, with AlexNet's three 3x3
convolutions on ncnn's Winograd kernels (lpips_ncnn.py), without importing torch; on CUDA (or
without ONNX Runtime) it is rebuilt in torch layer for layer, without importing the package
(whose import pulls in torchvision and torch._dynamo). tools/published_scorer.py (the
parity reference of the tests) uses the package itself.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import ReferenceDataError
from ..lpips_weights import load_weights
from . import lpips_ncnn
from .lpips_graph import (
    ALEX_SLICES,
    TAIL_FEATURES,
    distance_graph,
    head_graph,
    input_table,
    tail_graph,
)

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


def _lpips_alex(torch):
    """The package's LPIPS(net='alex', version='0.1') modules, weights not yet loaded: ``net``
    (slices named as the package names them, so parameter names match) and ``lins`` (its 1x1
    linear layers; the package's dropout before them is inactive in eval mode). The input
    scaling is ``scaled_pair``'s table."""
    nn = torch.nn

    def layer(spec):
        if spec[0] == "conv":
            _, chn_in, chn_out, kernel, stride, padding = spec
            return nn.Conv2d(chn_in, chn_out, kernel, stride=stride, padding=padding)
        return nn.ReLU(inplace=True) if spec[0] == "relu" else nn.MaxPool2d(kernel_size=3, stride=2)

    class AlexSlices(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for number, (first, *specs) in enumerate(ALEX_SLICES, start=1):
                sliced = nn.Sequential()
                for offset, spec in enumerate(specs):
                    sliced.add_module(str(first + offset), layer(spec))
                self.add_module(f"slice{number}", sliced)

        def forward(self, x):
            features = []
            for sliced in (self.slice1, self.slice2, self.slice3, self.slice4, self.slice5):
                x = sliced(x)
                features.append(x)
            return features

    class Lpips(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = AlexSlices()
            channels = [specs[-2][2] for _, *specs in ALEX_SLICES]
            self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, stride=1, padding=0, bias=False)
                                      for c in channels)

    return Lpips()


def normalize_tensor(feature, eps: float = 1e-10):
    """The package's unit normalisation over channels (``lpips.normalize_tensor``)."""
    import torch

    norm_factor = torch.sqrt(torch.sum(feature**2, dim=1, keepdim=True))
    return feature / (norm_factor + eps)


def _pair_distance(model, batch):
    """The package's arithmetic after its input scaling, for a batch of the two crops: AlexNet
    features, unit-normalised over channels, squared difference, linear layer, spatial mean,
    summed over the five layers."""
    total = None
    for lin, feature in zip(model.lins, model.net.forward(batch), strict=True):
        unit = normalize_tensor(feature)
        layer = lin((unit[0:1] - unit[1:2]) ** 2).mean()
        total = layer if total is None else total + layer
    return total


_INPUT_TABLE = input_table()


def scaled_pair(result: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Both HxWx3 uint8 crops as one 2xHxWx3 float32 batch, scaled as the package scales its
    inputs (bit for bit, through ``input_table``)."""
    import cv2

    pair = np.empty((2, *result.shape), np.float32)
    for index, crop in enumerate((result, gt)):
        cv2.LUT(np.ascontiguousarray(crop), _INPUT_TABLE, dst=pair[index])
    return pair


def onnx_session(threads: int, profile_prefix: str | None = None, graph: bytes | None = None):
    """An ONNX Runtime session for ``graph`` (None: the whole distance, from ``scaled_pair``'s
    2xHxWx3 batch to the scalar) written from the checked weights (nothing cached on disk).
    ONNX Runtime's fused convolutions need ~20% less CPU than torch's for AlexNet here, with the
    same numbers within 2e-8 (tools/bench_scoring.py and tests/test_metrics_parity.py measure
    both)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = False  # every crop has its own size
    options.log_severity_level = 3
    if profile_prefix:  # tools/bench_scoring.py: time per operator
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return onnxruntime.InferenceSession(graph or distance_graph(load_weights()), options,
                                        providers=["CPUExecutionProvider"])


CPU_RUNTIMES = ("onnxruntime+ncnn", "onnxruntime", "torch")  # the CPU's choices, fastest first


def _importable(*modules: str) -> bool:
    try:
        for module in modules:
            __import__(module)
    except ImportError:
        return False
    return True


def default_runtime(device: str) -> str:
    """On the CPU, the first of CPU_RUNTIMES whose libraries import (ONNX Runtime also needs
    ``onnx``, which writes its graphs); always torch on CUDA."""
    if device != "cpu" or not _importable("onnx", "onnxruntime"):
        return "torch"
    return "onnxruntime+ncnn" if _importable("ncnn") else "onnxruntime"


class LpipsAlex:
    """LPIPS-Alex v0.1 built once (weights from disk) and reused for every image.

    ``runtime``: one of CPU_RUNTIMES ("torch" also on CUDA; None: ``default_runtime``);
    ``threads``: the ONNX Runtime and ncnn threads per forward (torch's are set process-wide by the
    caller).
    """

    def __init__(self, device: str = "cpu", runtime: str | None = None, threads: int = 1) -> None:
        self.device = device
        self.runtime = runtime or default_runtime(device)
        if self.runtime not in CPU_RUNTIMES:
            raise ValueError(f"unknown LPIPS runtime {self.runtime!r}; one of {', '.join(CPU_RUNTIMES)}")
        if self.runtime != "torch" and device != "cpu":
            raise ValueError(f"the {self.runtime} LPIPS runs on the CPU only")
        if self.runtime == "onnxruntime":
            self._session = onnx_session(threads)
            return
        if self.runtime == "onnxruntime+ncnn":
            weights = load_weights()
            self._head = onnx_session(threads, graph=head_graph(weights))
            self._convolutions = lpips_ncnn.convolutions(weights, threads)
            self._tail = onnx_session(threads, graph=tail_graph(weights))
            return
        import torch

        weights = load_weights()
        with _without_random_init(torch):
            model = _lpips_alex(torch)
        with torch.no_grad():
            for name, param in model.net.named_parameters():
                param.copy_(torch.from_numpy(weights.backbone["features." + name.split(".", 1)[1]]))
            for lin, weight in zip(model.lins, weights.linear, strict=True):
                lin.weight.copy_(torch.from_numpy(weight))
        model = model.eval().requires_grad_(False)
        # channels_last: oneDNN's fastest convolution layout on CPU (~8% here), same numbers.
        self.model = model.to(device, memory_format=torch.channels_last)

    def distance(self, result: np.ndarray, gt: np.ndarray) -> float:
        """LPIPS distance between two HxWx3 uint8 RGB crops of the same shape (0 if identical).

        Both crops go through the backbone as one batch of two, then the package's arithmetic.
        """
        pair = scaled_pair(result, gt)
        if self.runtime == "onnxruntime":
            return float(self._session.run(None, {"pair": pair})[0])
        if self.runtime == "onnxruntime+ncnn":
            total, pooled = self._head.run(None, {"pair": pair})
            features = lpips_ncnn.features(self._convolutions, pooled)
            layers = self._tail.run(None, dict(zip(TAIL_FEATURES, features, strict=True)))
            for layer in layers:  # float32, in the package's order
                total = total + layer
            return float(total)
        import torch

        with torch.inference_mode():
            # channels-last memory: the layout the model's convolutions run in.
            batch = torch.from_numpy(pair).permute(0, 3, 1, 2).to(self.device)
            return float(_pair_distance(self.model, batch))


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
