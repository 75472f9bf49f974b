"""Resampling audit: the code layer of the no-rescale guard (pages/submission.md, issue 9).

While a participant's model runs, the resampling functions of torch, torchvision, Pillow, OpenCV
and scikit-image are wrapped. Each call on data whose *area* is close to an input image's (so a
padded, cropped or transposed copy still counts) is measured, and the line the rules draw is
applied to one ``restore()`` call (``classify``):

* a **round trip** is *proven* when the image the call returns is, pixel for pixel (within
  rounding, up to a per-channel gain and offset), the enlargement of 1-4-channel data of smaller
  area to the input's size made inside that call. Every output pixel then comes from a reduced
  representation: the image fails under policy ``reject`` (``guard.py``);
* any other **enlargement** of 1-4-channel data to the input's size (guided-filter coefficients, a
  gain map, a mask, or a round trip with detail pasted back) *flags* the image for review;
* **reductions** (a thumbnail read for global statistics, a mask downsized as guidance) and
  feature maps (more than 4 channels) are informational: the verdict stays ``clean``.

Tampering is closed where it is cheap and recorded where it is not: the wrappers carry no
``__wrapped__`` and their closures hold no original and no audit state (calls reach the originals
through a ``sys.audit`` hook, which Python code can neither list nor remove); a reload of a
watched module is re-patched on the spot and recorded; nothing module-level switches the
wrappers off (torch's ``is_compiling`` flag is not consulted); the audit's own state is checked
after each call; and ``gc`` or frame introspection while the model runs is recorded. Python cannot
hide an object from a determined search of the heap, so this is a mistake-catcher with exact
``file:line``, not a sandbox: resampling by other code (slicing, pooling, hand-written kernels,
other libraries), with extra dummy channels, inside TorchScript/compiled graphs or other processes
is not seen. The content check (``aiflash.forensics``) judges the pixels for those.

The wrappers replace module attributes, so they must be installed before the participant's module
is imported: ``from cv2 import resize`` then binds the wrapper. torch, OpenCV and Pillow are
patched at once; torchvision and scikit-image (slow to import) the moment they are first imported.
References that modules imported earlier hold to the originals are re-pointed too.
"""

from __future__ import annotations

import base64
import builtins
import functools
import importlib
import importlib.abc
import sys
import sysconfig
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType, ModuleType

import numpy as np

Size = tuple[int, int]  # (height, width)

REJECT, FLAG, INFO = "reject", "flag", "info"
SEVERITIES = (INFO, FLAG, REJECT)
# Kinds of finding.
ROUND_TRIP, ENLARGEMENT, REDUCTION, FEATURE_MAP, TAMPER = (
    "round_trip", "enlargement", "reduction", "feature_map", "tamper")

# Data counts as "the input's size" when its area is within these ratios of an input's: a model
# may pad (to a multiple of 64: up to ~15 % more at 1K), crop or transpose; a rescale worth the
# name changes the area far more (0.8 is a linear factor of 0.89).
FULL_AREA = (0.8, 1.5)
REDUCED_AREA = 0.8
MAX_IMAGE_CHANNELS = 4
# Samples of each enlargement kept to test whether the returned image *is* that enlargement.
SAMPLES = 2048
_MATCH_LEVELS = 1.5  # |output - fit| in 8-bit levels (rounding, float->uint8, clipping margins)
_MATCH_SHARE = 0.95  # of the unclipped samples
_MIN_SPREAD = 2.0  # an output channel flatter than this (levels, std) proves nothing
_MAX_FINGERPRINTS = 128  # per kind of call and image (folder API: per kind of call, all images)

_EVENT = "aiflash.resample"
_OUR_PACKAGE = str(Path(__file__).resolve().parents[1])
_LIBRARY_DIRS = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
)
# Introspection that can reach the originals or the audit's state (CPython audit events).
_INTROSPECTION = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames"})
# Instance attributes that legitimately change while the model runs; every other one is pinned.
_LIVE_STATE = frozenset({"_sizes", "_seen", "_tampered", "_originals_seen"})


@dataclass(frozen=True)
class Finding:
    """One kind of resampling call (or tampering) seen while an image (or the folder) was processed."""

    function: str
    input_size: Size
    output_size: Size
    channels: int
    caller: str  # "model.py:12", relative to the submission when the call comes from it
    image: str | None  # stem, or None under the folder API
    count: int = 1
    kind: str = ENLARGEMENT
    severity: str = FLAG
    note: str = ""

    @property
    def direction(self) -> str:
        if self.kind == TAMPER:
            return "tamper"
        area_in = self.input_size[0] * self.input_size[1]
        return "downscale" if self.output_size[0] * self.output_size[1] < area_in else "upscale"

    def describe(self) -> str:
        """One line: what was called, where, on what, and what it means."""
        if self.kind == TAMPER:
            return f"{self.caller}: {self.function}: {self.note}"
        times = f" ({self.count} calls)" if self.count > 1 else ""
        note = f": {self.note}" if self.note else ""
        return (f"{self.caller} called {self.function} to {self.direction} {self.channels}-channel data "
                f"from {_hw(self.input_size)} to {_hw(self.output_size)} (HxW){times}{note}")

    def as_dict(self) -> dict:
        return {**asdict(self), "direction": self.direction}

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(data["function"], tuple(data["input_size"]), tuple(data["output_size"]),
                   data["channels"], data["caller"], data.get("image"), data.get("count", 1),
                   data.get("kind", ENLARGEMENT), data.get("severity", FLAG), data.get("note", ""))


def _hw(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


def _area(size: Size) -> int:
    return size[0] * size[1]


def _full(size: Size, sizes: frozenset[Size] | set[Size]) -> bool:
    """Whether data of ``size`` is an input-sized image (padded, cropped or transposed included)."""
    area = _area(size)
    return any(FULL_AREA[0] * _area(s) <= area <= FULL_AREA[1] * _area(s) for s in sizes)


# -- measuring one call ----------------------------------------------------------------------------
def _layout(data, channel_axis=None) -> tuple[Size, int, str] | None:
    """(spatial size, channels, layout) of an array, tensor or PIL image, or None if it is not
    image-like. Layouts: "chw" (tensors: ...xCxHxW; a 3-D tensor is CxHxW, which is also how a 1-D
    ``interpolate`` pass over an image's rows sees it), "hwc"/"hw" (numpy: OpenCV, scikit-image),
    "pil"."""
    if hasattr(data, "getbands") and hasattr(data, "size"):  # PIL image
        width, height = data.size
        return (int(height), int(width)), len(data.getbands()), "pil"
    shape = getattr(data, "shape", None)
    if shape is None:
        return None
    shape = tuple(int(n) for n in shape)
    if hasattr(data, "dim"):  # torch tensor
        if len(shape) == 2:
            return shape, 1, "chw"
        if len(shape) == 3:
            return shape[1:], shape[0], "chw"
        if len(shape) >= 4:  # batch first; volumes (NxCxDxHxW) fold depth into channels
            return shape[-2:], int(np.prod(shape[1:-2])), "chw"
        return None
    if len(shape) == 2:
        return shape, 1, "hw"
    if len(shape) == 3:
        if channel_axis in (0, -3):
            return shape[1:], shape[0], "chw"
        return shape[:2], shape[2], "hwc"
    return None


def _first(args: tuple, kwargs: dict, *names: str):
    if args:
        return args[0]
    for name in names:
        if name in kwargs:
            return kwargs[name]
    return None


def _measure_pair(data, result, channel_axis=None):
    source, target = _layout(data, channel_axis), _layout(result, channel_axis)
    if source is None or target is None:
        return None
    return source[0], target[0], source[1], result, target[2]


def _measure_torch(args, kwargs, result, before):
    return _measure_pair(_first(args, kwargs, "input"), result)


def _measure_first_arg(*names: str, channel_axis: bool = False):
    def measure(args, kwargs, result, before):
        axis = kwargs.get("channel_axis") if channel_axis else None
        return _measure_pair(_first(args, kwargs, *names), result, axis)
    return measure


def _pil_before(args, kwargs):
    return _layout(args[0]) if args else None


def _measure_pil_in_place(args, kwargs, result, before):
    after = _layout(args[0]) if args else None
    if before is None or after is None:
        return None
    return before[0], after[0], before[1], args[0], "pil"


@dataclass(frozen=True)
class _Target:
    module: str  # the public module participants import it from (or where the class lives)
    attribute: str  # "resize", or "Image.resize" for a method
    public_name: str  # what participants call it
    measure: Callable
    before: Callable | None = None
    eager: bool = False  # import now (cheap, or already needed) instead of on first import


_ARRAY = _measure_first_arg("src")
_SKIMAGE = _measure_first_arg("image", channel_axis=True)
_TV = _measure_first_arg("img", "inpt")
_PIL = _measure_first_arg()
TARGETS = (
    _Target("torch.nn.functional", "interpolate", "torch.nn.functional.interpolate", _measure_torch,
            eager=True),
    _Target("cv2", "resize", "cv2.resize", _ARRAY, eager=True),
    _Target("cv2", "pyrDown", "cv2.pyrDown", _ARRAY, eager=True),
    _Target("cv2", "pyrUp", "cv2.pyrUp", _ARRAY, eager=True),
    _Target("PIL.Image", "Image.resize", "PIL.Image.Image.resize", _PIL, eager=True),
    _Target("PIL.Image", "Image.reduce", "PIL.Image.Image.reduce", _PIL, eager=True),
    _Target("PIL.Image", "Image.thumbnail", "PIL.Image.Image.thumbnail", _measure_pil_in_place,
            before=_pil_before, eager=True),
    _Target("torchvision.transforms.functional", "resize", "torchvision.transforms.functional.resize", _TV),
    _Target("torchvision.transforms.v2.functional", "resize", "torchvision.transforms.v2.functional.resize",
            _TV),
    *(_Target("skimage.transform", name, f"skimage.transform.{name}", _SKIMAGE)
      for name in ("resize", "rescale", "resize_local_mean", "downscale_local_mean", "pyramid_reduce",
                   "pyramid_expand")),
)


# -- fingerprints: is the returned image the enlargement? -----------------------------------------
@functools.lru_cache(maxsize=64)
def sample_positions(size: Size) -> tuple[np.ndarray, np.ndarray]:
    """Fixed pseudo-random pixel positions (rows, columns) of an HxW image (same on both sides)."""
    rng = np.random.default_rng(size[0] * 100_003 + size[1])
    rows, cols = rng.integers(0, size[0], SAMPLES), rng.integers(0, size[1], SAMPLES)
    rows.flags.writeable = cols.flags.writeable = False  # shared by every caller
    return rows, cols


@dataclass(frozen=True)
class Fingerprint:
    """An enlargement's values at ``sample_positions(size)`` of an input of ``size``, for one way
    of laying the enlarged data over the image (as is, transposed, or cropped from padding)."""

    size: Size
    alignment: str
    samples: np.ndarray  # SAMPLES x channels, float32

    def as_dict(self) -> dict:
        data = np.ascontiguousarray(self.samples, np.float32)
        return {"size": list(self.size), "alignment": self.alignment, "channels": int(data.shape[1]),
                "samples": base64.b64encode(data.tobytes()).decode("ascii")}

    @classmethod
    def from_dict(cls, data: dict) -> Fingerprint:
        samples = np.frombuffer(base64.b64decode(data["samples"]), np.float32)
        return cls(tuple(data["size"]), data["alignment"], samples.reshape(-1, data["channels"]))


def _alignments(target: Size, size: Size) -> list[tuple[str, int, int, bool]]:
    """(name, row offset, column offset, transposed) placements of data of ``target`` size over
    an image of ``size``."""
    placements = []
    for transposed in (False, True):
        h, w = target[::-1] if transposed else target
        if h < size[0] or w < size[1]:
            continue
        suffix = ", transposed" if transposed else ""
        if (h, w) == size:
            placements.append((f"as is{suffix}", 0, 0, transposed))
        else:
            placements.append((f"centre crop{suffix}", (h - size[0]) // 2, (w - size[1]) // 2, transposed))
            placements.append((f"top-left crop{suffix}", 0, 0, transposed))
    return placements


def _fingerprints(result, layout: str, sizes: frozenset[Size]) -> list[Fingerprint]:
    """Samples of an enlargement's result for every input size and placement it can cover."""
    found = []
    info = _layout(result)
    if info is None:
        return found
    target = info[0]
    for size in sizes:
        if not _full(target, {size}):
            continue
        rows, cols = sample_positions(size)
        for name, dy, dx, transposed in _alignments(target, size):
            r, c = (cols + dx, rows + dy) if transposed else (rows + dy, cols + dx)
            samples = _take(result, layout, r, c)
            if samples is not None:
                found.append(Fingerprint(size, name, samples))
    return found


def _take(data, layout: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    """Values at (rows, cols) as SAMPLES x channels float32 (first image of a batch)."""
    if layout == "pil":
        data, layout = np.asarray(data), "hwc"
    if hasattr(data, "dim"):
        import torch

        if data.device.type == "meta" or type(data) not in (torch.Tensor, torch.nn.Parameter):
            return None  # traced or fake tensors (torch.compile/export) hold no values
        if data.dim() >= 4:  # the first image of a batch; a volume's depth folds into channels
            data = data[0].reshape(-1, *data.shape[-2:])
        if data.dim() == 2:
            data = data[None]
        index_r = torch.as_tensor(rows, device=data.device)
        index_c = torch.as_tensor(cols, device=data.device)
        values = data[:, index_r, index_c].detach().float().cpu().numpy()
        return values.T.astype(np.float32)
    array = np.asarray(data)
    if array.ndim == 2:
        return array[rows, cols].astype(np.float32)[:, None]
    if layout == "chw":
        return array[:, rows, cols].T.astype(np.float32)
    return array[rows, cols].astype(np.float32)


def is_enlargement_of(output: np.ndarray, fingerprints: list[Fingerprint]) -> Fingerprint | None:
    """The fingerprint the returned image (HxWx3 uint8) is, within rounding and up to a gain and
    offset per channel (a least-squares fit on the enlargement's channels), or None. Clipped
    samples (0 or 255) are left out; a flat output channel proves nothing."""
    size = output.shape[:2]
    rows, cols = sample_positions(size)
    values = output[rows, cols].astype(np.float64)
    for fingerprint in fingerprints:
        if tuple(fingerprint.size) != tuple(size):
            continue
        columns = fingerprint.samples.astype(np.float64)
        if not np.isfinite(columns).all() or not np.ptp(columns, axis=0).any():
            continue
        design = np.column_stack([columns, np.ones(len(columns))])
        if all(_fits(values[:, k], design) for k in range(values.shape[1])):
            return fingerprint
    return None


def _fits(channel: np.ndarray, design: np.ndarray) -> bool:
    keep = (channel > 0) & (channel < 255)
    if keep.sum() < SAMPLES // 8 or channel[keep].std() < _MIN_SPREAD:
        return False
    coefficients, *_ = np.linalg.lstsq(design[keep], channel[keep], rcond=None)
    residual = np.abs(design[keep] @ coefficients - channel[keep])
    return float(np.mean(residual <= _MATCH_LEVELS)) >= _MATCH_SHARE


# -- what one call, or one restore(), amounts to -----------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """One kind of call seen inside a watched block (aggregated), before the line is drawn."""

    function: str
    source: Size
    target: Size
    channels: int
    caller: str
    count: int = 1
    fingerprints: tuple[Fingerprint, ...] = ()
    note: str = ""  # tampering: what was seen

    def as_dict(self) -> dict:
        return {"function": self.function, "source": list(self.source), "target": list(self.target),
                "channels": self.channels, "caller": self.caller, "count": self.count, "note": self.note,
                "fingerprints": [f.as_dict() for f in self.fingerprints]}

    @classmethod
    def from_dict(cls, data: dict) -> Observation:
        fingerprints = tuple(Fingerprint.from_dict(f) for f in data["fingerprints"])
        return cls(data["function"], tuple(data["source"]), tuple(data["target"]), data["channels"],
                   data["caller"], data["count"], fingerprints, data.get("note", ""))


def classify(observations: list[Observation], sizes: set[Size], image: str | None,
             output: np.ndarray | None, policy: str) -> list[Finding]:
    """Draw the rules' line over what one ``restore()`` call (or ``main()``) did.

    ``output`` is the image returned (HxWx3 uint8), or None when no single output belongs to the
    calls (the folder API's findings as a whole). A proven round trip has severity ``reject``
    under policy ``reject`` and ``flag`` under ``flag``.
    """
    sizes = frozenset(tuple(s) for s in sizes)
    findings = []
    for seen in observations:
        base = dict(function=seen.function, input_size=tuple(seen.source), output_size=tuple(seen.target),
                    channels=seen.channels, caller=seen.caller, image=image, count=seen.count)
        if seen.note:  # tampering
            findings.append(Finding(**base, kind=TAMPER, severity=FLAG, note=seen.note))
            continue
        source_full, target_full = _full(seen.source, sizes), _full(seen.target, sizes)
        enlarged = target_full and _area(seen.source) < REDUCED_AREA * _area(seen.target)
        reduced = source_full and _area(seen.target) < REDUCED_AREA * _area(seen.source)
        if not (enlarged or reduced):
            continue  # between reduced sizes, or a resize of a padded copy: the model's business
        if seen.channels > MAX_IMAGE_CHANNELS:
            findings.append(Finding(**base, kind=FEATURE_MAP, severity=INFO,
                                    note="feature map (more than 4 channels): allowed"))
        elif reduced:
            findings.append(Finding(**base, kind=REDUCTION, severity=INFO,
                                    note="reduced copy (statistics, guidance or a mask): allowed while "
                                         "nothing is enlarged back"))
        elif output is not None and (match := is_enlargement_of(output, seen.fingerprints)):
            findings.append(Finding(
                **base, kind=ROUND_TRIP, severity=REJECT if policy == REJECT else FLAG,
                note=f"the returned image is this enlargement ({match.alignment}): every output pixel "
                     f"comes from a reduced-resolution representation"))
        else:
            findings.append(Finding(
                **base, kind=ENLARGEMENT, severity=FLAG,
                note="image-like data enlarged to the input's size (e.g. filter coefficients, a gain "
                     "map, or detail pasted back): for review"))
    return findings


# -- the wrappers ----------------------------------------------------------------------------------
def _make_wrapper(slot: int, name: str, qualname: str, module: str, doc: str | None) -> Callable:
    """A function that forwards its call through ``sys.audit`` to the audit's hook: its closure
    holds the slot number and the (public) ``sys.audit`` only, its globals nothing at all."""
    fire = sys.audit

    def wrapper(*args, **kwargs):
        box = [args, kwargs, None]
        fire("aiflash.resample", slot, box)  # the literal: these globals are empty
        return box[2]

    function = types.FunctionType(wrapper.__code__, {"__builtins__": builtins}, name, None,
                                  wrapper.__closure__)
    function.__qualname__, function.__module__, function.__doc__ = qualname, module, doc
    function.__aiflash_audit__ = True
    return function


class ResamplingAudit:
    """Wraps the resampling functions once per process; observes calls inside ``watch()``.

    The originals and the state live in this object, which only the worker and the ``sys.audit``
    hook hold (the hook cannot be listed or removed from Python)."""

    def __init__(self, participant_root: Path):
        self._root = participant_root.resolve()
        self._root_text = str(self._root)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sizes: frozenset[Size] = frozenset()
        self._seen: dict[tuple, tuple[int, list[Fingerprint]]] = {}  # call -> (count, fingerprints)
        self._tampered: list[Observation] = []
        self._originals: list[Callable] = []
        self._targets: list[_Target] = []
        self._wrappers: list[Callable] = []
        self._slots: dict[tuple[str, str], int] = {}
        self._compiling: Callable[[], bool] = _never
        self._compiling_code = None
        self._installed = False
        self._pinned: list[tuple[dict, str, object]] = []  # (namespace, name, value) at install
        self._originals_seen: tuple = ()  # the originals as the audit last set them
        self.patched: list[str] = []

    # -- installation -------------------------------------------------------------------------
    def install(self) -> None:
        """Patch every target whose module is importable now or later (once per process)."""
        if self._installed:
            return
        self._installed = True
        torch = sys.modules.get("torch") or importlib.import_module("torch")
        # Dynamo treats is_dynamo_compiling() as True while tracing; in eager code it returns False
        # unconditionally (unlike is_compiling(), which reads a module flag anyone can set).
        compiler = getattr(torch, "compiler", None)
        self._compiling = getattr(compiler, "is_dynamo_compiling", None) or _never
        self._compiling_code = getattr(self._compiling, "__code__", None)
        sys.addaudithook(self._hook)
        by_module: dict[str, list[_Target]] = {}
        for target in TARGETS:
            by_module.setdefault(target.module, []).append(target)
        pending: dict[str, list[_Target]] = {}
        for module_name, targets in by_module.items():
            module = sys.modules.get(module_name)
            if module is None and any(t.eager for t in targets):
                try:
                    module = importlib.import_module(module_name)
                except ImportError:
                    continue
            if module is not None:
                self._patch_module(module, targets)
            else:
                pending[module_name] = targets
        # Every watched module, imported later or re-executed by importlib.reload, is (re)patched.
        sys.meta_path.insert(0, _PatchOnImport(by_module, pending, self._patch_module, self._reloaded))
        self._pin()

    def _pin(self) -> None:
        """Remember every global of our own modules (the worker's included), every attribute of
        their classes and of this object: a participant who flips one (a constant, a function the
        worker calls, a method) is recorded and undone at the next check."""
        owners: list = [self]
        for name, module in list(sys.modules.items()):
            spec_name = getattr(getattr(module, "__spec__", None), "name", "") or ""
            if not (name.startswith("aiflash") or spec_name.startswith("aiflash")):
                continue
            owners.append(module)
            owners.extend(value for value in list(vars(module).values())
                          if isinstance(value, type) and str(value.__module__).startswith("aiflash"))
        pinned = [(owner, key, value) for owner in dict.fromkeys(owners)
                  for key, value in list(vars(owner).items()) if key not in _LIVE_STATE | {"_pinned"}]
        self._pinned = pinned
        pinned.append((self, "_pinned", pinned))

    def _patch_module(self, module: ModuleType, targets: list[_Target]) -> list[str]:
        """Wrap the targets in ``module``; returns the public names that had to be (re)wrapped."""
        replaced: dict[int, Callable] = {}
        done = []
        for target in targets:
            owner = module
            name = target.attribute
            if "." in name:
                class_name, name = name.split(".", 1)
                owner = getattr(module, class_name, None)
            current = getattr(owner, name, None) if owner is not None else None
            if current is None or getattr(current, "__aiflash_audit__", False):
                continue
            key = (target.module, target.attribute)
            if key in self._slots:  # re-executed module: the fresh original replaces the old one
                slot = self._slots[key]
                self._originals[slot] = current
                self._originals_seen = tuple(self._originals)
            else:
                slot = len(self._originals)
                self._slots[key] = slot
                self._originals.append(current)
                self._originals_seen = tuple(self._originals)
                self._targets.append(target)
                self._wrappers.append(_make_wrapper(slot, getattr(current, "__name__", name),
                                                    getattr(current, "__qualname__", name),
                                                    getattr(current, "__module__", target.module),
                                                    getattr(current, "__doc__", None)))
                self.patched.append(target.public_name)
            wrapper = self._wrappers[slot]
            setattr(owner, name, wrapper)
            if owner is module:
                replaced[id(current)] = wrapper
            _alias_torchvision_kernels(current, wrapper)
            _share_torchscript_overloads(current, wrapper)
            wrapper.__prepare_scriptable__ = self._scriptable(slot)
            done.append(target.public_name)
        if replaced:
            _repoint_references(replaced)
        return done

    def _scriptable(self, slot: int) -> Callable:
        """TorchScript compiles the original (scripted graphs are not audited); called from
        anywhere but torch.jit, it returns the wrapper and records the attempt."""
        fire = sys.audit

        def prepare():
            box = [(), {"__prepare_scriptable__": True}, None]
            fire("aiflash.resample", slot, box)  # the literal: these globals are empty
            return box[2]

        return types.FunctionType(prepare.__code__, {"__builtins__": builtins}, "__prepare_scriptable__",
                                  None, prepare.__closure__)

    # -- the hook: every wrapped call arrives here ---------------------------------------------
    def _hook(self, event: str, data: tuple) -> None:
        if event != _EVENT:
            if event in _INTROSPECTION:
                try:
                    self._tamper(event, f"{event}() was called while the model was loaded or ran (it "
                                        f"can reach the audit's originals)")
                except Exception:  # a hook that raises would break the interpreter's own events
                    pass
            return
        slot, box = data
        if not isinstance(slot, int) or not 0 <= slot < len(self._originals) or len(box) != 3:
            return
        args, kwargs, _ = box
        original, target = self._originals[slot], self._targets[slot]
        if kwargs.get("__prepare_scriptable__") is True and not args:
            box[2] = original if _called_from_torch_jit() else self._wrappers[slot]
            if box[2] is not original:
                self._tamper(target.public_name, "__prepare_scriptable__() called outside torch.jit "
                                                 "(it would hand out the original)")
            return
        box[2] = self._call(original, target, args, kwargs)

    def _call(self, original: Callable, target: _Target, args: tuple, kwargs: dict):
        # Under torch.compile (Dynamo tracing) the original is traced as is: compiled graphs are
        # not audited (the content check sees their output).
        if self._compiling() or not self._sizes or getattr(self._local, "busy", False):
            return original(*args, **kwargs)
        sizes = self._sizes
        before = target.before(args, kwargs) if target.before else None
        self._local.busy = True  # calls made inside this one (skimage rescale -> resize) are its own
        try:
            result = original(*args, **kwargs)
        finally:
            self._local.busy = False
        try:
            measured = target.measure(args, kwargs, result, before)
            if measured is not None:
                self._observe(target.public_name, sizes, *measured)
        except Exception as exc:  # the audit must never break a model; a call it cannot judge is for review
            try:
                self._tamper(target.public_name, f"the audit could not measure this call "
                                                 f"({type(exc).__name__}: {exc}); for review")
            except Exception:
                pass
        return result

    def _observe(self, function: str, sizes: frozenset[Size], source: Size, target: Size, channels: int,
                 result, layout: str) -> None:
        if source == target or not (_full(source, sizes) or _full(target, sizes)):
            return
        fingerprints = []
        if 1 <= channels <= MAX_IMAGE_CHANNELS and _full(target, sizes) and \
                _area(source) < REDUCED_AREA * _area(target):
            fingerprints = _fingerprints(result, layout, sizes)
        key = (function, source, target, channels, self._caller())
        with self._lock:
            count, kept = self._seen.get(key, (0, []))
            kept.extend(fingerprints[: max(0, _MAX_FINGERPRINTS - len(kept))])
            self._seen[key] = (count + 1, kept)

    def _tamper(self, what: str, note: str) -> None:
        caller = self._caller()
        with self._lock:
            if not any(t.function == what and t.caller == caller for t in self._tampered):
                self._tampered.append(Observation(what, (0, 0), (0, 0), 0, caller, note=note))

    def _reloaded(self, module_name: str, names: list[str]) -> None:
        if names:
            self._tamper(f"importlib.reload({module_name})",
                         f"re-executed while the model was loaded or ran; {', '.join(names)} re-patched")

    def _caller(self) -> str:
        """The participant's frame that led to the call: the innermost one in the submission, else
        the innermost outside libraries and this package, else the direct caller."""
        frame: FrameType | None = sys._getframe(2)
        fallback = outside = None
        while frame is not None:
            resolved = _resolved(frame.f_code.co_filename)
            if fallback is None and resolved and not resolved.startswith(_OUR_PACKAGE):
                fallback = frame
            if resolved.startswith(self._root_text + "/") or resolved == self._root_text:
                return self.location(resolved, frame.f_lineno)
            if outside is None and resolved and not resolved.startswith((_OUR_PACKAGE, *_LIBRARY_DIRS)):
                outside = frame
            frame = frame.f_back
        chosen = outside or fallback
        if chosen is None:
            return "unknown"
        return self.location(chosen.f_code.co_filename, chosen.f_lineno)

    def location(self, filename: str, line: int) -> str:
        """``file:line``, relative to the submission folder when the file is in it."""
        path = Path(filename)
        try:
            path = path.resolve().relative_to(self._root)
        except (ValueError, OSError):
            pass
        return f"{path.as_posix()}:{line}"

    # -- integrity ------------------------------------------------------------------------------
    def check_integrity(self) -> None:
        """Re-patch any watched attribute that no longer holds its wrapper (replaced, or its class
        re-created) and record it; record changes to the switches the wrappers rely on."""
        by_module: dict[str, list[_Target]] = {}
        for target in self._targets:
            by_module.setdefault(target.module, []).append(target)
        for module_name, targets in by_module.items():
            module = sys.modules.get(module_name)
            if module is None:
                continue
            names = self._patch_module(module, targets)
            if names:
                self._tamper(f"{module_name} attributes",
                             f"{', '.join(names)} no longer held the audit's wrapper; re-patched")
        if getattr(self._compiling, "__code__", None) is not self._compiling_code:
            self._tamper("torch.compiler.is_dynamo_compiling", "its code was replaced (a switch that "
                                                               "would turn the audit off); restored")
            self._compiling.__code__ = self._compiling_code
        changed = [f"{getattr(owner, '__name__', 'audit')}.{key}" for owner, key, value in self._pinned
                   if vars(owner).get(key, _MISSING) is not value]
        extra = set(vars(self)) - {key for owner, key, _ in self._pinned if owner is self}
        changed += sorted(extra - _LIVE_STATE)
        if tuple(self._originals) != self._originals_seen:
            changed.append("_originals")
        if changed:
            for owner, key, value in self._pinned:
                if vars(owner).get(key, _MISSING) is not value:
                    setattr(owner, key, value)
            for key in extra - _LIVE_STATE:
                vars(self).pop(key, None)
            self._originals[:] = self._originals_seen
            self._tamper("aiflash internals", f"{', '.join(changed[:6])} changed while the model was "
                                              f"loaded or ran (a switch?); restored")

    @contextmanager
    def watch(self, sizes: set[Size], image: str | None = None) -> Iterator[list[Observation]]:
        """Observe calls made inside the block; the list is filled when it exits (tampering first)."""
        observations: list[Observation] = []
        expected = frozenset(tuple(s) for s in sizes)
        self.check_integrity()
        self._local.busy = False
        seen: dict[tuple, tuple[int, list[Fingerprint]]] = {}
        with self._lock:
            self._seen = seen
        self._sizes = expected
        try:
            yield observations
        finally:
            changed = self._sizes is not expected or self._seen is not seen or \
                getattr(self._local, "busy", False)
            self._sizes = frozenset()
            self._local.busy = False
            if changed:
                self._tamper("audit state", "the audit's state was changed while the model ran")
            self.check_integrity()
            with self._lock:
                tampered, self._tampered = self._tampered, []
                self._seen = {}
            observations.extend(tampered)
            observations.extend(Observation(*key, count, tuple(kept)) for key, (count, kept) in seen.items())

    def pending_tampering(self) -> list[Observation]:
        """Tampering seen outside ``watch()`` (while model.py was imported), taken once."""
        self.check_integrity()
        with self._lock:
            tampered, self._tampered = self._tampered, []
        return tampered


@functools.lru_cache(maxsize=4096)
def _resolved(filename: str) -> str:
    """A code object's file as an absolute path ("" for <string>, <frozen ...> and the like)."""
    return str(Path(filename).resolve()) if filename and not filename.startswith("<") else ""


_MISSING = object()


def _never() -> bool:
    return False


def _called_from_torch_jit() -> bool:
    frame = sys._getframe(3)
    for _ in range(8):
        if frame is None:
            return False
        if str(frame.f_globals.get("__name__", "")).startswith(("torch.jit", "torch._jit_internal")):
            return True
        frame = frame.f_back
    return False


def _repoint_references(replaced: dict[int, Callable]) -> None:
    """Modules imported before the patch that did ``from x import f`` get the wrapper too
    (``replaced`` maps id(original) to its wrapper)."""
    for name, module in list(sys.modules.items()):
        if module is None or name == "aiflash" or name.startswith("aiflash."):
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        hits = [(attribute, replaced[id(value)]) for attribute, value in list(namespace.items())
                if id(value) in replaced]
        for attribute, wrapper in hits:
            if namespace.get(attribute) is not wrapper:
                try:
                    setattr(module, attribute, wrapper)
                except (AttributeError, TypeError):
                    pass


def _alias_torchvision_kernels(original: Callable, wrapper: Callable) -> None:
    """torchvision v2 dispatches through a registry keyed by the functional itself."""
    utils = sys.modules.get("torchvision.transforms.v2.functional._utils")
    registry = getattr(utils, "_KERNEL_REGISTRY", None)
    if isinstance(registry, dict) and original in registry:
        registry[wrapper] = registry[original]


def _share_torchscript_overloads(original: Callable, wrapper: Callable) -> None:
    """TorchScript looks overloaded functions (interpolate) up by identity in a cache: give the
    wrapper the original's compiled overloads so ``torch.jit.script`` of a participant's module
    still works (it compiles the original; scripted graphs are not audited)."""
    try:
        from torch._jit_internal import _get_fn_overloads, _qualified_name
        from torch.jit._script import _get_overloads, _set_jit_overload_cache

        if not _get_fn_overloads(_qualified_name(original)):
            return
        with warnings.catch_warnings():  # TorchScript's deprecation notice is not for participants
            warnings.simplefilter("ignore")
            _set_jit_overload_cache(wrapper, _get_overloads(original))
    except Exception:  # best effort: without it only torch.jit.script of such code fails
        pass


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a watched module right after it is executed: on first import, before any importer
    can bind its names, and again when ``importlib.reload`` re-executes it."""

    def __init__(self, watched: dict[str, list[_Target]], pending: dict[str, list[_Target]],
                 patch: Callable, reloaded: Callable):
        self._watched = watched
        self._pending = pending
        self._patch = patch
        self._reloaded = reloaded

    def find_spec(self, fullname, path, target=None):
        if fullname not in self._watched:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        first = self._pending.pop(fullname, None) is not None
        targets = self._watched[fullname]
        exec_module = loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            names = self._patch(module, targets)
            if not first:
                self._reloaded(fullname, names)

        loader.exec_module = exec_and_patch
        return spec
