"""Resampling audit: the no-rescale guard's second layer (pages/submission.md, issue 3).

While a participant's model runs, the resampling functions of torch, torchvision, Pillow, OpenCV
and scikit-image are wrapped. A call is a finding when its input or its output has the spatial
size (H, W) of an input image being processed and the other side differs, for data with 1 to 4
channels (an image or a mask): the downscale of the input, or the upscale back to it. Feature maps
with more channels, and resampling between other sizes, are the model's own business.

The wrappers replace module attributes, so they must be installed before the participant's module
is imported: ``from cv2 import resize`` then binds the wrapper. torch, OpenCV and Pillow are
patched at once; torchvision and scikit-image (slow to import) the moment they are first imported.
References that modules imported earlier hold to the originals are re-pointed too.

This is a guard against rescaling by mistake, not a sandbox: resampling by other means (slicing,
pooling, hand-written kernels, TorchScript or compiled graphs, other processes) is not seen; the
rules and the organisers' code review cover those.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import sys
import sysconfig
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType, ModuleType

Size = tuple[int, int]  # (height, width)
# (input size, output size, channels) of one call, or None when it is not image-like data
Measured = tuple[Size, Size, int] | None

_OUR_PACKAGE = str(Path(__file__).resolve().parents[1])
_LIBRARY_DIRS = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")}
)


@dataclass(frozen=True)
class Finding:
    """One kind of resampling call seen while an image (or the whole folder) was processed."""

    function: str
    input_size: Size
    output_size: Size
    channels: int
    caller: str  # "model.py:12", relative to the submission when the call comes from it
    image: str | None  # stem, or None under the folder API
    count: int = 1

    @property
    def direction(self) -> str:
        area_in = self.input_size[0] * self.input_size[1]
        return "downscale" if self.output_size[0] * self.output_size[1] < area_in else "upscale"

    def describe(self) -> str:
        """One line: what was called, where, and on what."""
        times = f" ({self.count} calls)" if self.count > 1 else ""
        return (f"{self.caller} called {self.function} to {self.direction} {self.channels}-channel data "
                f"from {_hw(self.input_size)} to {_hw(self.output_size)} (HxW){times}")

    def as_dict(self) -> dict:
        return {**asdict(self), "direction": self.direction}


def _hw(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


def _size_of(data, channel_axis=None) -> tuple[Size, int] | None:
    """(spatial size, channels) of an array, tensor or PIL image, or None if it is not image-like.

    Arrays are HxW or HxWxC (numpy convention: OpenCV, scikit-image); tensors are ...xCxHxW.
    """
    if hasattr(data, "getbands") and hasattr(data, "size"):  # PIL image
        width, height = data.size
        return (int(height), int(width)), len(data.getbands())
    shape = getattr(data, "shape", None)
    if shape is None:
        return None
    shape = tuple(int(n) for n in shape)
    if hasattr(data, "dim"):  # torch tensor
        if len(shape) == 2:
            return shape, 1
        if len(shape) >= 3:
            return shape[-2:], shape[-3]
        return None
    if len(shape) == 2:
        return shape, 1
    if len(shape) == 3:
        if channel_axis in (0, -3):
            return shape[1:], shape[0]
        return shape[:2], shape[2]
    return None


def _first(args: tuple, kwargs: dict, *names: str):
    if args:
        return args[0]
    for name in names:
        if name in kwargs:
            return kwargs[name]
    return None


def _measure_torch(args, kwargs, result, before) -> Measured:
    data = _first(args, kwargs, "input")
    if len(getattr(data, "shape", ())) < 4:  # interpolate on 1-D signals is not image resampling
        return None
    return _measure_pair(data, result)


def _measure_first_arg(*names: str, channel_axis: bool = False):
    def measure(args, kwargs, result, before) -> Measured:
        axis = kwargs.get("channel_axis") if channel_axis else None
        return _measure_pair(_first(args, kwargs, *names), result, axis)
    return measure


def _measure_pair(data, result, channel_axis=None) -> Measured:
    source, target = _size_of(data, channel_axis), _size_of(result, channel_axis)
    if source is None or target is None:
        return None
    return source[0], target[0], source[1]


def _pil_before(args, kwargs):
    return _size_of(args[0]) if args else None


def _measure_pil_in_place(args, kwargs, result, before) -> Measured:
    after = _size_of(args[0]) if args else None
    if before is None or after is None:
        return None
    return before[0], after[0], before[1]


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


class ResamplingAudit:
    """Wraps the resampling functions once per process; records findings inside ``watch()``."""

    def __init__(self, participant_root: Path):
        self._root = participant_root.resolve()
        self._root_text = str(self._root)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sizes: frozenset[Size] = frozenset()
        self._image: str | None = None
        self._counts: dict[tuple, int] = {}
        self._pending: dict[str, list[_Target]] = {}
        self._compiling: Callable[[], bool] | None = None
        self.patched: list[str] = []

    # -- installation -------------------------------------------------------------------------
    def install(self) -> None:
        """Patch every target whose module is importable now or later (idempotent per process)."""
        by_module: dict[str, list[_Target]] = {}
        for target in TARGETS:
            by_module.setdefault(target.module, []).append(target)
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
                self._pending[module_name] = targets
        if self._pending:
            sys.meta_path.insert(0, _PatchOnImport(self._pending, self._patch_module))

    def _patch_module(self, module: ModuleType, targets: list[_Target]) -> None:
        if self._compiling is None:
            torch = sys.modules.get("torch")
            self._compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None) or bool
        replaced: dict[int, Callable] = {}
        for target in targets:
            owner = module
            name = target.attribute
            if "." in name:
                class_name, name = name.split(".", 1)
                owner = getattr(module, class_name, None)
            original = getattr(owner, name, None) if owner is not None else None
            if original is None or getattr(original, "__aiflash_audit__", False):
                continue
            wrapper = self._wrap(original, target)
            setattr(owner, name, wrapper)
            if owner is module:
                replaced[id(original)] = wrapper
            _alias_torchvision_kernels(original, wrapper)
            _share_torchscript_overloads(original, wrapper)
            self.patched.append(target.public_name)
        if replaced:
            _repoint_references(replaced)

    def _wrap(self, original: Callable, target: _Target) -> Callable:
        audit, compiling = self, self._compiling

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            # Under torch.compile the original is traced as is (compiled graphs are not audited).
            if compiling() or not audit._sizes or getattr(audit._local, "busy", False):
                return original(*args, **kwargs)
            before = target.before(args, kwargs) if target.before else None
            audit._local.busy = True  # calls made inside this one (skimage rescale -> resize) are its own
            try:
                result = original(*args, **kwargs)
            finally:
                audit._local.busy = False
            try:
                measured = target.measure(args, kwargs, result, before)
            except Exception:  # the audit must never break a model
                measured = None
            if measured is not None:
                audit._consider(target.public_name, *measured)
            return result

        wrapper.__aiflash_audit__ = True
        # TorchScript compiles the original (scripted graphs are not audited; see the module doc).
        wrapper.__prepare_scriptable__ = lambda: original
        return wrapper

    # -- recording ----------------------------------------------------------------------------
    def _consider(self, function: str, source: Size, target: Size, channels: int) -> None:
        sizes = self._sizes
        if not 1 <= channels <= 4 or source == target or (source not in sizes and target not in sizes):
            return
        key = (self._image, function, source, target, channels, self._caller())
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def _caller(self) -> str:
        """The participant's frame that led to the call: the innermost one in the submission, else
        the innermost outside libraries and this package, else the direct caller."""
        frame: FrameType | None = sys._getframe(2)
        fallback = outside = None
        while frame is not None:
            filename = frame.f_code.co_filename
            resolved = str(Path(filename).resolve()) if filename and not filename.startswith("<") else ""
            if fallback is None and not resolved.startswith(_OUR_PACKAGE):
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

    @contextmanager
    def watch(self, sizes: set[Size], image: str | None) -> Iterator[list[Finding]]:
        """Record findings for calls made inside the block; the list is filled when it exits."""
        findings: list[Finding] = []
        with self._lock:
            self._counts = {}
        self._sizes, self._image = frozenset(sizes), image
        try:
            yield findings
        finally:
            self._sizes, self._image = frozenset(), None
            with self._lock:
                counts, self._counts = self._counts, {}
            findings.extend(
                Finding(function, source, target, channels, caller, stem, count)
                for (stem, function, source, target, channels, caller), count in counts.items()
            )


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
    """Patches a module right after it is first executed, before any importer can bind its names."""

    def __init__(self, pending: dict[str, list[_Target]], patch: Callable):
        self._pending = pending
        self._patch = patch

    def find_spec(self, fullname, path, target=None):
        if fullname not in self._pending:
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
        targets = self._pending.pop(fullname)
        exec_module = loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            self._patch(module, targets)

        loader.exec_module = exec_and_patch
        return spec
