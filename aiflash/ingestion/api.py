"""The participant API of a code submission (pages/submission.md): ``model.py`` at the root.

``model.py`` provides either

* ``class Model`` built as ``Model(weights_dir, device)`` with ``restore(image, person_mask)``:
  ``image`` is an HxWx3 uint8 RGB array, ``person_mask`` an HxW bool array, the return value an
  HxWx3 array (uint8, or float in [0, 1]). Preferred: the ingestion program owns the files, times
  every image and attributes every guard finding to it; or
* ``main(model_dir, input_path, output_path, device)``, NTIRE's usual convention: it processes the
  whole ``input_path`` folder and writes ``<stem>.png`` files to ``output_path``.

If both exist, ``Model`` is used. Everything here runs in the worker process.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType

from ..errors import ModelError

MODEL_FILE = "model.py"
MODULE_NAME = "model"
PER_IMAGE = "per_image"
FOLDER = "folder"
_MAX_ERROR = 400
_API = ("a class Model(weights_dir, device) with restore(image, person_mask), or a function "
        "main(model_dir, input_path, output_path, device)")


@dataclass(frozen=True)
class ParticipantModel:
    """A loaded submission: ``model`` (a Model instance) or ``main`` (the folder function)."""

    kind: str  # PER_IMAGE or FOLDER
    model: object = None
    main: object = None


def import_model_module(code_root: Path) -> ModuleType:
    """Import ``code_root/model.py`` as module ``model`` (its sibling modules importable)."""
    if str(code_root) not in sys.path:
        sys.path.append(str(code_root))  # appended: installed packages win name clashes (Codabench)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, code_root / MODEL_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(MODULE_NAME, None)
        hint = ""
        if isinstance(exc, ModuleNotFoundError):
            hint = (f"; the package '{exc.name}' is not installed in the competition container: "
                    f"ship it inside your zip (pure Python) or use what the container provides")
        raise ModelError(f"{MODEL_FILE}: importing it failed: {error_line(exc, code_root)}{hint}.") from exc
    return module


def load_participant_model(code_root: Path, device: str) -> ParticipantModel:
    """Import model.py and build the model once; raises ModelError naming what failed."""
    module = import_model_module(code_root)
    model_class = getattr(module, "Model", None)
    if isinstance(model_class, type):
        try:
            model = model_class(str(code_root), device)
        except BaseException as exc:
            raise ModelError(f"{MODEL_FILE}: Model(weights_dir, device) raised "
                             f"{error_line(exc, code_root)}.") from exc
        if not callable(getattr(model, "restore", None)):
            raise ModelError(f"{MODEL_FILE}: class Model has no method restore(image, person_mask).")
        return ParticipantModel(PER_IMAGE, model=model)
    main = getattr(module, "main", None)
    if callable(main):
        return ParticipantModel(FOLDER, main=main)
    raise ModelError(f"{MODEL_FILE} defines neither {_API}; see the submission page.")


def error_line(exc: BaseException, code_root: Path) -> str:
    """The exception's last line, with the submission's innermost file:line, on one line:
    ``ValueError: boom (model.py:17)``."""
    if isinstance(exc, SystemExit):
        text = f"SystemExit: the model called sys.exit({exc.code!r})"
    else:
        text = traceback.format_exception_only(type(exc), exc)[-1]
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > _MAX_ERROR:
        text = text[: _MAX_ERROR - 3] + "..."
    where = submission_location(exc.__traceback__, code_root)
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        where = _relative(Path(exc.filename), code_root.resolve(), exc.lineno) or where
    if "OutOfMemoryError" in text:
        text += " (GPU out of memory: process the image in tiles, still at full resolution)"
    return f"{text} ({where})" if where else text


def submission_location(tb: TracebackType | None, code_root: Path) -> str | None:
    """``file:line`` of the innermost traceback frame inside the submission, if any."""
    found = None
    root = code_root.resolve()
    for frame, line in traceback.walk_tb(tb):
        found = _relative(Path(frame.f_code.co_filename), root, line) or found
    return found


def _relative(path: Path, root: Path, line: int) -> str | None:
    try:
        return f"{path.resolve().relative_to(root).as_posix()}:{line}"
    except (ValueError, OSError):
        return None


def traceback_tail(exc: BaseException, code_root: Path, lines: int = 20) -> str:
    """The last lines of the traceback from the submission's first frame on (ours are noise to a
    participant), for the log and ingestion.json."""
    tb = exc.__traceback__
    while tb is not None and _relative(Path(tb.tb_frame.f_code.co_filename), code_root.resolve(), 0) is None:
        tb = tb.tb_next
    formatted = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    return "\n".join(formatted.rstrip().splitlines()[-lines:])
