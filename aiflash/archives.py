"""The one way this package unpacks a zip: every entry checked before a byte is extracted.

Zips come from strangers (submissions) and from organisers (bundles, data): a 2 MB zip can declare
a member of many gigabytes, hold ``../`` or absolute paths, symbolic links (to the ground truth on
a local run) or a million entries. ``check_zip`` refuses all of these from the central directory
alone; ``safe_extract`` then extracts by streaming, never writing more than an entry declared (a
lying header cannot expand further). Messages name the zip and the entry.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import SubmissionError

_CHUNK = 1 << 20
# Ratios are only judged above this size: small text files legitimately compress 50-100x.
_RATIO_FLOOR = 16 << 20


@dataclass(frozen=True)
class ZipLimits:
    """What a zip may declare. PNG results and model weights compress less than 2x; 100x or more
    on megabytes of data is a decompression bomb."""

    max_entries: int = 20_000
    max_entry_bytes: int = 8 << 30
    max_total_bytes: int = 20 << 30
    max_ratio: float = 100.0


DEFAULT_LIMITS = ZipLimits()


@dataclass(frozen=True)
class ZipEntry:
    """One file to extract: its safe relative path and what the zip declares for it."""

    path: PurePosixPath
    info: zipfile.ZipInfo


def _shown(archive: Path, error: Callable[[str], Exception]) -> str:
    # Participants know their zip by name; organisers need the path.
    return archive.name if error is SubmissionError else str(archive)


def _safe_path(name: str) -> PurePosixPath | None:
    """The entry's path if it stays inside the target folder, else None."""
    if "\x00" in name:
        return None
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        return None
    return path


def check_zip(archive: Path, *, error: Callable[[str], Exception] = SubmissionError,
              limits: ZipLimits = DEFAULT_LIMITS,
              skip: Callable[[PurePosixPath], bool] | None = None) -> list[ZipEntry]:
    """Read the zip's central directory and return its files, or raise ``error`` naming the zip and
    the entry for: an unreadable zip, too many entries, an unsafe path, a link or special file, an
    encrypted entry, an entry or a total above the limits, a compression ratio of a bomb.
    Directories and entries ``skip`` accepts (macOS junk) are left out. Nothing is extracted."""
    shown = _shown(archive, error)
    try:
        with zipfile.ZipFile(archive) as opened:
            infos = opened.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise error(f"{shown}: not a readable zip ({exc}); re-create it with a standard zip "
                    f"tool.") from exc
    if len(infos) > limits.max_entries:
        raise error(f"{shown}: holds {len(infos)} entries, more than the {limits.max_entries} "
                    f"allowed; zip only what is needed.")
    entries, total, packed = [], 0, 0
    for info in infos:
        path = _safe_path(info.filename)
        if path is None:
            raise error(f"{shown}: entry {info.filename!r} has an unsafe path (absolute or with '..') "
                        f"that would land outside the folder it is unpacked into; zip relative paths.")
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode and stat.S_IFMT(mode) not in (stat.S_IFREG, stat.S_IFDIR, 0):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file (device, pipe, socket)"
            raise error(f"{shown}: entry {info.filename!r} is {kind}; links are not allowed (they "
                        f"could point anywhere on the machine): zip the file itself.")
        if info.flag_bits & 0x1:
            raise error(f"{shown}: entry {info.filename!r} is encrypted; zip it without a password.")
        if info.is_dir() or (skip is not None and skip(path)):
            continue
        if info.file_size > limits.max_entry_bytes:
            raise error(f"{shown}: entry {info.filename!r} declares {info.file_size / 2**30:.1f} GiB "
                        f"unpacked, more than the {limits.max_entry_bytes / 2**30:g} GiB allowed per "
                        f"file; refused before extracting.")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_FLOOR and ratio > limits.max_ratio:
            raise error(f"{shown}: entry {info.filename!r} expands {ratio:.0f}x "
                        f"({info.compress_size} bytes to {info.file_size / 2**30:.2f} GiB), more than "
                        f"the {limits.max_ratio:g}x of any real data (a zip bomb); refused before "
                        f"extracting.")
        total += info.file_size
        packed += info.compress_size
        entries.append(ZipEntry(path, info))
    if total > limits.max_total_bytes:
        raise error(f"{shown}: unpacks to {total / 2**30:.1f} GiB, more than the "
                    f"{limits.max_total_bytes / 2**30:g} GiB allowed; refused before extracting.")
    if total > _RATIO_FLOOR and total / max(packed, 1) > limits.max_ratio:
        raise error(f"{shown}: its {len(entries)} files expand {total / max(packed, 1):.0f}x in all "
                    f"(to {total / 2**30:.2f} GiB), more than the {limits.max_ratio:g}x of any real "
                    f"data (a zip bomb); refused before extracting.")
    return entries


def safe_extract(archive: Path, target: Path, *, error: Callable[[str], Exception] = SubmissionError,
                 limits: ZipLimits = DEFAULT_LIMITS,
                 skip: Callable[[PurePosixPath], bool] | None = None,
                 must_hold: str | None = None) -> list[Path]:
    """Check the zip (``check_zip``), then extract its files under ``target``; returns their paths.
    An entry that inflates beyond what it declared, fails its CRC or cannot be written raises
    ``error`` naming the zip and the entry; so does a zip without files when ``must_hold`` says
    what it should hold ("one <stem>.png per input image")."""
    entries = check_zip(archive, error=error, limits=limits, skip=skip)
    shown = _shown(archive, error)
    if not entries and must_hold:
        raise error(f"{shown}: the zip holds no files; it must hold {must_hold}.")
    target.mkdir(parents=True, exist_ok=True)
    needed = sum(e.info.file_size for e in entries)
    free = shutil.disk_usage(target).free
    if needed > free:
        raise error(f"{shown}: unpacks to {needed / 2**30:.2f} GiB but only {free / 2**30:.2f} GiB "
                    f"is free in {target}; free some disk space.")
    written = []
    with zipfile.ZipFile(archive) as opened:
        for entry in entries:
            destination = target.joinpath(*entry.path.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                _copy_bounded(opened, entry.info, destination)
            except _Overflow as exc:
                destination.unlink(missing_ok=True)
                raise error(f"{shown}: entry {entry.info.filename!r} inflates beyond the "
                            f"{entry.info.file_size} bytes it declares (a forged header); "
                            f"refused.") from exc
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError) as exc:
                raise error(f"{shown}: entry {entry.info.filename!r} cannot be extracted ({exc}); "
                            f"re-create the zip.") from exc
            written.append(destination)
        for info in opened.infolist():  # empty folders are part of what was zipped
            path = _safe_path(info.filename)
            if info.is_dir() and path is not None and path.parts and not (skip is not None and skip(path)):
                target.joinpath(*path.parts).mkdir(parents=True, exist_ok=True)
    return written


class _Overflow(Exception):
    pass


def _copy_bounded(opened: zipfile.ZipFile, info: zipfile.ZipInfo, destination: Path) -> None:
    left = info.file_size
    with opened.open(info) as source, open(destination, "wb") as out:
        while True:
            chunk = source.read(min(_CHUNK, left + 1))
            if not chunk:
                return
            left -= len(chunk)
            if left < 0:
                raise _Overflow
            out.write(chunk)


__all__ = ["DEFAULT_LIMITS", "ZipEntry", "ZipLimits", "check_zip", "safe_extract"]
