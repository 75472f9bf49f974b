"""AlexNet's 3x3 convolutions of LPIPS-Alex (slices 2-4) on ncnn's Winograd kernels, on the CPU.

Pure functions. Those three convolutions are about half of the LPIPS time at the person-box sizes
here (55% of its multiplications); ONNX Runtime runs them as direct convolutions at ~80% of a
core's FMA peak, so only fewer multiplications make them cheaper. ncnn (Tencent's inference
library, BSD-3) has AVX2 Winograd F(4x4,3x3) kernels: 4x fewer multiplications per output, 1.65-2x
less time for the three here. Its different summation order moves the features by ~2e-6 relative
and the LPIPS distance by < 1e-8 (spec §6 allows 1e-5); tests/test_metrics_parity.py holds it to
the package. F(6x6,3x3) is disabled (larger rounding), F(2x2,3x3) is not needed.

The network is written here from the checked weights (nothing cached on disk): the ncnn param text
and its weight blob, convolutions with their ReLU fused (an exact max(0, x)).
"""

from __future__ import annotations

import numpy as np

from ..lpips_weights import LpipsWeights
from .lpips_graph import ALEX_SLICES, HEAD, POOLED, TAIL_FEATURES

_MAGIC = 7767517  # ncnn's param format
_RAW_FLOAT32 = np.uint32(0)  # a weight blob's tag: plain float32 follows
_WHAT_TO_DO = ("reinstall the pinned ncnn (requirements.lock), or uninstall it to score on ONNX "
               "Runtime alone (the same numbers, slower)")


def network(weights: LpipsWeights) -> tuple[str, bytes]:
    """The ncnn param text and weight bytes: ``pooled`` -> ``feature2`` -> ``feature3`` ->
    ``feature4``, each a 3x3 convolution (stride 1, padding 1) and its ReLU."""
    layers = [f"Input {POOLED} 0 1 {POOLED}"]
    blob = bytearray()
    previous = POOLED
    for k, feature in enumerate(TAIL_FEATURES, start=HEAD):
        first, *specs = ALEX_SLICES[k]
        spec = next(spec for spec in specs if spec[0] == "conv")
        _, _, channels_out, kernel, stride, padding = spec
        assert (kernel, stride, padding) == (3, 1, 1), spec
        index = first + specs.index(spec)
        weight = weights.backbone[f"features.{index}.weight"].astype(np.float32)
        bias = weights.backbone[f"features.{index}.bias"].astype(np.float32)
        # 0 outputs, 1 kernel, 2 dilation, 3 stride, 4 padding, 5 bias, 6 weight count, 9=1 ReLU
        layers.append(f"Convolution conv{k} 1 1 {previous} {feature} 0={channels_out} 1={kernel} "
                      f"2=1 3={stride} 4={padding} 5=1 6={weight.size} 9=1")
        blob += _RAW_FLOAT32.tobytes() + weight.tobytes() + bias.tobytes()
        previous = feature
    return f"{_MAGIC}\n{len(layers)} {len(layers)}\n" + "\n".join(layers) + "\n", bytes(blob)


def convolutions(weights: LpipsWeights, threads: int):
    """The ncnn network for ``threads`` threads per forward: float32 throughout, Winograd
    F(4x4,3x3) where ncnn's kernels choose it (else its packed direct convolution), no GPU."""
    import ncnn

    net = ncnn.Net()
    options = net.opt
    options.num_threads = threads
    options.use_vulkan_compute = False
    options.use_fp16_storage = options.use_fp16_packed = options.use_fp16_arithmetic = False
    options.use_bf16_storage = False
    options.use_int8_inference = False
    options.use_winograd_convolution = True
    options.use_winograd23_convolution = False
    options.use_winograd43_convolution = True
    options.use_winograd63_convolution = False
    param, blob = network(weights)
    if net.load_param_mem(param) != 0:
        raise RuntimeError(f"ncnn refused the LPIPS convolutions' param text; {_WHAT_TO_DO}.")
    net.load_model_mem(blob)
    return net


def features(net, pooled: np.ndarray) -> list[np.ndarray]:
    """Both crops' ReLU features of slices 2-4 (each 2xCxhxw float32) from ``pooled`` (2xCxhxw,
    the head graph's output). ncnn takes one image at a time; it releases the GIL meanwhile."""
    import ncnn

    out: list[np.ndarray | None] = [None] * len(TAIL_FEATURES)
    for image in range(2):
        extractor = net.create_extractor()
        extractor.input(POOLED, ncnn.Mat(np.ascontiguousarray(pooled[image])))
        for k, name in enumerate(TAIL_FEATURES):
            status, mat = extractor.extract(name)
            if status != 0:
                raise RuntimeError(f"ncnn failed on LPIPS {name} (status {status}); {_WHAT_TO_DO}.")
            feature = np.asarray(mat)
            if out[k] is None:
                out[k] = np.empty((2, *feature.shape), np.float32)
            out[k][image] = feature
    return out
