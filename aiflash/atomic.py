"""Write-then-rename: a reader (or a resumed run) sees a file whole or not at all.

Every file the package writes in place of a finished result goes through here: the bytes go to
``<name>.partial`` beside the target, which is renamed over it (``os.replace``, atomic on one
filesystem) only when writing ended without an error; on an error the partial file is removed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PARTIAL_SUFFIX = ".partial"


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield the partial path to write; on a clean exit it replaces ``path``, else it is removed."""
    partial = partial_path(Path(path))
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


@contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO]:
    """An open file (streamed writes) that becomes ``path`` once closed without an error."""
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path) as partial, partial.open(mode, encoding=encoding) as handle:
        yield handle


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as partial:
        partial.write_text(text, encoding="utf-8")


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as partial:
        partial.write_bytes(data)
