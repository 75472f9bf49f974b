"""LPIPS-Alex v0.1 distance as ONNX graphs, written node by node from the checked weights.

Pure functions, no torch: the CPU scorer runs these graphs on ONNX Runtime, so it never imports
torch (about 3 s of a scoring run's start-up). Each node restates one operation of the ``lpips``
package's forward with ``normalize=True``: AlexNet ``features[0:12]`` in five slices, unit
normalisation over channels, squared difference, the 1x1 linear layer and the spatial mean,
summed over the five layers (Zhang et al., CVPR 2018). The input scaling comes before the graph,
through ``input_table`` (bit for bit the package's). ``distance_graph`` is the whole distance;
``head_graph`` and ``tail_graph`` surround the 3x3 convolutions that lpips_ncnn.py runs.
tests/test_metrics_parity.py holds them to the package itself and to our torch rebuild
(``lpips.LpipsAlex(runtime="torch")``).
"""

from __future__ import annotations

import numpy as np

from ..lpips_weights import LpipsWeights

OPSET = 17
INPUT = "pair"  # float32, 2 x H x W x 3: the result crop and the GT crop through input_table()
OUTPUT = "distance"  # float32 scalar
# The package's ScalingLayer constants.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10  # lpips.normalize_tensor
# torchvision's alexnet().features[0:12] as the package slices it: (first index, layers).
ALEX_SLICES = ((0, ("conv", 3, 64, 11, 4, 2), ("relu",)),
               (2, ("pool",), ("conv", 64, 192, 5, 1, 2), ("relu",)),
               (5, ("pool",), ("conv", 192, 384, 3, 1, 1), ("relu",)),
               (8, ("conv", 384, 256, 3, 1, 1), ("relu",)),
               (10, ("conv", 256, 256, 3, 1, 1), ("relu",)))


class _Graph:
    """Nodes and initialisers, named in order."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []

    def constant(self, name: str, value) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str | list[str], **attributes):
        """One node named after its (first) output; returns the output name(s) as given."""
        from onnx import helper

        outputs = [output] if isinstance(output, str) else output
        self.nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attributes))
        return output


def input_table() -> np.ndarray:
    """1x256x3 float32: each 8-bit value v of channel c as the package scales it,
    ((v / 127.5 - 1) - shift_c) / scale_c, every operation in float32 (IEEE rounding, as torch
    and ONNX Runtime round them). A lookup through it (``cv2.LUT``) gives the very numbers of
    those four operations in one pass over the crop instead of four."""
    f32 = np.float32
    levels = np.arange(256, dtype=f32)[:, None]
    table = ((levels / f32(127.5) - f32(1.0)) - np.array(SHIFT, f32)) / np.array(SCALE, f32)
    return np.ascontiguousarray(table, f32)[None]


def _scaled_input(graph: _Graph) -> str:
    """The scaled NHWC pair as NCHW."""
    return graph.node("Transpose", [INPUT], "scaled", perm=[0, 3, 1, 2])


def _layer_distance(graph: _Graph, feature: str, linear: np.ndarray, k: int) -> str:
    """Spatial mean of lin_k((unit(f_result) - unit(f_gt))^2) for one layer's features."""
    squared = graph.node("Mul", [feature, feature], f"sq{k}")
    summed = graph.node("ReduceSum", [squared, graph.constant(f"axis{k}", np.array([1], np.int64))],
                        f"sum{k}", keepdims=1)
    norm = graph.node("Sqrt", [summed], f"norm{k}")
    norm = graph.node("Add", [norm, graph.constant(f"eps{k}", np.float32(EPS))], f"norm_eps{k}")
    unit = graph.node("Div", [feature, norm], f"unit{k}")
    unit_result, unit_gt = graph.node("Split", [unit], [f"unit_result{k}", f"unit_gt{k}"], axis=0)
    diff = graph.node("Sub", [unit_result, unit_gt], f"diff{k}")
    diff2 = graph.node("Mul", [diff, diff], f"diff2_{k}")
    weighted = graph.node("Conv", [diff2, graph.constant(f"lin{k}", linear)], f"lin_out{k}",
                          kernel_shape=[1, 1])
    return graph.node("ReduceMean", [weighted], f"layer{k}", keepdims=0)


def _slices(graph: _Graph, x: str, weights: LpipsWeights, slices: range) -> tuple[str, list[str]]:
    """AlexNet ``slices`` (indices into ALEX_SLICES) from ``x``: their last feature and each one's
    layer distance, in order."""
    layers = []
    for k in slices:
        first, *specs = ALEX_SLICES[k]
        pooled = specs[0][0] == "pool"
        spec = specs[1] if pooled else specs[0]
        index = first + specs.index(spec)  # the convolution's index in features[]
        _, _, _, kernel, stride, padding = spec
        if pooled:
            x = graph.node("MaxPool", [x], f"pool{k}", kernel_shape=[3, 3], strides=[2, 2])
        weight = graph.constant(f"w{index}", weights.backbone[f"features.{index}.weight"])
        bias = graph.constant(f"b{index}", weights.backbone[f"features.{index}.bias"])
        conv = graph.node("Conv", [x, weight, bias], f"conv{k}", kernel_shape=[kernel, kernel],
                          strides=[stride, stride], pads=[padding] * 4)
        x = graph.node("Relu", [conv], f"feature{k}")
        layers.append(_layer_distance(graph, x, weights.linear[k], k))
    return x, layers


def _sum(graph: _Graph, layers: list[str], output: str) -> str:
    """((l0 + l1) + l2) + ..., the package's order, the last sum named ``output``."""
    if len(layers) == 1:
        return graph.node("Identity", layers, output)
    total = layers[0]
    for number, layer in enumerate(layers[1:], start=1):
        total = graph.node("Add", [total, layer], output if number == len(layers) - 1 else f"total{number}")
    return total


def _model(graph: _Graph, name: str, inputs: list, outputs: list) -> bytes:
    from onnx import helper

    model = helper.make_model(helper.make_graph(graph.nodes, name, inputs, outputs, graph.initializers),
                              opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aiflash")
    return model.SerializeToString()


def _pair_input():
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [2, "height", "width", 3])


def _scalar(name: str):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [])


def distance_graph(weights: LpipsWeights) -> bytes:
    """The serialised ONNX model: ``pair`` (float32 2xHxWx3, scaled; H, W >= 31) -> ``distance``."""
    graph = _Graph()
    _, layers = _slices(graph, _scaled_input(graph), weights, range(len(ALEX_SLICES)))
    _sum(graph, layers, OUTPUT)
    return _model(graph, "lpips_alex_v0_1", [_pair_input()], [_scalar(OUTPUT)])


# The distance split for a runtime that runs AlexNet's 3x3 convolutions itself (lpips_ncnn.py): the
# head graph runs slices 0..HEAD-1 and the max pool that opens slice HEAD; the tail graph takes the
# features of slices HEAD.. and gives each one's layer distance. head_distance + tail layers, added
# in that order in float32, is the package's sum.
HEAD = 2
HEAD_DISTANCE = "head_distance"  # float32 scalar: layers 0..HEAD-1 summed
POOLED = "pooled"  # float32 2xCxhxw: the input of slice HEAD's convolution
TAIL_FEATURES = tuple(f"feature{k}" for k in range(HEAD, len(ALEX_SLICES)))  # float32 2xCxhxw each
TAIL_LAYERS = tuple(f"layer{k}" for k in range(HEAD, len(ALEX_SLICES)))  # float32 scalars


def head_graph(weights: LpipsWeights) -> bytes:
    """``pair`` -> ``head_distance`` and ``pooled``."""
    from onnx import TensorProto, helper

    assert ALEX_SLICES[HEAD][1][0] == "pool"
    graph = _Graph()
    x, layers = _slices(graph, _scaled_input(graph), weights, range(HEAD))
    _sum(graph, layers, HEAD_DISTANCE)
    graph.node("MaxPool", [x], POOLED, kernel_shape=[3, 3], strides=[2, 2])
    pooled = helper.make_tensor_value_info(POOLED, TensorProto.FLOAT, [2, "channels", "height", "width"])
    return _model(graph, "lpips_alex_v0_1_head", [_pair_input()], [_scalar(HEAD_DISTANCE), pooled])


def tail_graph(weights: LpipsWeights) -> bytes:
    """``feature2``, ``feature3``, ``feature4`` (each both crops' ReLU output) -> ``layer2`` ..."""
    from onnx import TensorProto, helper

    graph = _Graph()
    inputs = []
    for k, name in enumerate(TAIL_FEATURES, start=HEAD):
        channels = weights.linear[k].shape[1]
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, channels, f"height{k}",
                                                                             f"width{k}"]))
        _layer_distance(graph, name, weights.linear[k], k)
    return _model(graph, "lpips_alex_v0_1_tail", inputs, [_scalar(name) for name in TAIL_LAYERS])
