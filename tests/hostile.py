"""Hostile inputs, generated at test time (never committed): decompression bombs and malicious zips.

Bombs are written cheaply: a deflate stream of N zeros is one compressed 1 MiB block (ended by a
full flush, so it refers to nothing before it) repeated, so a file declaring gigabytes is built in
well under a second and takes a few MB of disk.
"""

from __future__ import annotations

import stat
import struct
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np

_BLOCK = 1 << 20


def deflate_zeros(count: int) -> bytes:
    """A raw deflate stream (no header) that inflates to ``count`` zero bytes."""
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = head.compress(bytes(_BLOCK)) + head.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(count, _BLOCK)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    return block * full + tail.compress(bytes(rest)) + tail.flush()


def crc32_zeros(count: int) -> int:
    crc, zeros = 0, bytes(_BLOCK)
    full, rest = divmod(count, _BLOCK)
    for _ in range(full):
        crc = zlib.crc32(zeros, crc)
    return zlib.crc32(bytes(rest), crc)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A valid black RGB PNG declaring ``width`` x ``height`` (30000x30000: 2.7 GB decoded, ~2.6 MB)."""
    raw = height * (width * 3 + 1)  # a filter byte (0) per row, then zero pixels: all zeros
    adler = ((raw % 65521) << 16) | 1  # Adler-32 of zeros: a = 1, b = count
    stream = b"\x78\xda" + deflate_zeros(raw) + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", stream)
                     + _chunk(b"IEND", b""))
    return path


def small_jpeg(width: int = 64, height: int = 48, orientation: int | None = None) -> bytes:
    """A real JPEG of a gradient; with ``orientation``, an EXIF APP1 segment carrying that tag."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], -1).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    data = encoded.tobytes()
    if orientation is None:
        return data
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + \
        struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    app1 = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def jpeg_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A small real JPEG whose frame header (SOF0) is patched to declare ``width`` x ``height``."""
    data = bytearray(small_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def bmp_header_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A BMP header declaring ``width`` x ``height`` 24-bit pixels, with a few bytes of them."""
    header = b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    path.write_bytes(header + bytes(16))
    return path


def zip_bomb(path: Path, name: str = "0001.png", size: int = 5 << 29) -> Path:
    """A zip holding one deflated member of ``size`` zeros (default 2.5 GiB, ~2.5 MB on disk),
    written by hand (no zip64 needed below 4 GiB)."""
    data, crc, encoded = deflate_zeros(size), crc32_zeros(size), name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size,
                          len(encoded), 0, 0, 0, 0, 0, 0) + encoded
    offset = len(local) + len(encoded) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0)
    path.write_bytes(local + encoded + data + central + end)
    return path


def make_zip(path: Path, members: dict[str, bytes], *, links: dict[str, str] | None = None,
             encrypted: tuple[str, ...] = (), compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip of ``members`` (names used verbatim, '../x' included), symbolic-link entries
    ``links`` (name -> target); with ``encrypted``, its first entry is flagged as encrypted."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    if encrypted:  # zipfile cannot write encrypted entries: set the flag in both headers
        data = bytearray(path.read_bytes())
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.index(signature)
            data[at + offset] |= 0x1
        path.write_bytes(bytes(data))
    return path


def forge_size(path: Path, declared: int) -> Path:
    """Rewrite the (single) entry's declared uncompressed size in both headers to ``declared``."""
    data = bytearray(path.read_bytes())
    local = data.index(b"PK\x03\x04")
    data[local + 22: local + 26] = struct.pack("<I", declared)
    central = data.index(b"PK\x01\x02")
    data[central + 24: central + 28] = struct.pack("<I", declared)
    path.write_bytes(bytes(data))
    return path


# -- hostile models: model.py sources that try to get the hidden inputs out ----------------------
# Image n (in name order) tries act n; whatever the act raises fails that image, so ingestion.json
# records, per image, the error the model got.
_NETWORK_MODEL = """
    import ctypes
    import os
    import socket

    ACTS = ["udp", "dns", "packet", "attach"]


    class _IoVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


    def read_memory(pid, address, size):
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(size)
        local, remote = _IoVec(ctypes.addressof(buffer), size), _IoVec(address, size)
        if libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return buffer.raw


    class Model:
        def __init__(self, weights_dir, device):
            self.calls = 0

        def restore(self, image, person_mask):
            act = ACTS[self.calls % len(ACTS)]
            self.calls += 1
            if act == "udp":  # the first 3 x 60 KB of the hidden input, as plain datagrams
                data = image.tobytes()
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    for start in range(0, 3 * CHUNK, CHUNK):
                        udp.sendto(data[start:start + CHUNK], ("127.0.0.1", PORT))
            elif act == "dns":  # a query name can carry data to any resolver on the way
                socket.getaddrinfo("example.com", 443)
            elif act == "packet":  # a raw link-layer socket (root holds NET_RAW without a capability list)
                socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003)).close()
            elif act == "attach":  # another process's memory, here its own: allowed unconfined
                secret = ctypes.create_string_buffer(b"hidden input")
                assert read_memory(os.getpid(), ctypes.addressof(secret), 12) == b"hidden input"
            return image
"""
UDP_CHUNK = 60_000


def network_model(port: int) -> str:
    """A model that sends UDP datagrams of its input to 127.0.0.1:``port``, resolves a host name,
    opens an AF_PACKET raw socket and reads process memory (process_vm_readv), one per image."""
    return _NETWORK_MODEL.replace("import socket\n", f"import socket\n\n    PORT = {port}\n"
                                  f"    CHUNK = {UDP_CHUNK}\n", 1)


# Writes where a model's temporary files and caches go and runs torch's threads and DataLoader
# workers (all must work, else loading fails), writes straight to /tmp and, on the first image,
# into the phase's input folder (its path read from the ingestion program's command line): what it
# got is in report.json in its own folder.
SCRATCH_MODEL = """
    import json
    import os
    import tempfile
    from pathlib import Path

    MUST_WORK = ("tempfile", "torch_hub", "xdg_cache", "home", "torch_workers")


    def attempt(action):
        try:
            return f"ok {action()}"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"


    def torch_workers():
        # intra-op threads, then DataLoader workers (processes, AF_UNIX sockets, shared memory)
        import torch

        torch.set_num_threads(2)
        with torch.no_grad():
            torch.nn.Conv2d(3, 8, 3)(torch.rand(1, 3, 64, 64)).sum()
        data = torch.utils.data.TensorDataset(torch.arange(8.0))
        return sum(float(batch[0].sum()) for batch in torch.utils.data.DataLoader(data, batch_size=2,
                                                                                 num_workers=2))


    def write(folder, name="probe.txt"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_text("written by the model")
        return folder


    def input_folder():
        arguments = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().split(b"\\0")
        return Path(os.fsdecode(arguments[arguments.index(b"--input-dir") + 1])) / "input"


    class Model:
        def __init__(self, weights_dir, device):
            import torch

            report = {
                "tmpdir": tempfile.gettempdir(),
                "tempfile": attempt(lambda: write(tempfile.mkdtemp(prefix="team-"))),
                "torch_hub": attempt(lambda: write(torch.hub.get_dir())),
                "xdg_cache": attempt(lambda: write(os.path.join(os.environ["XDG_CACHE_HOME"], "team"))),
                "home": attempt(lambda: write(Path.home() / ".team")),
                "torch_workers": attempt(torch_workers),
                "tmp_root": attempt(lambda: write("/tmp", f"aiflash-probe-{os.getpid()}.txt")),
                "input_folder": str(input_folder()),
            }
            Path(weights_dir, "report.json").write_text(json.dumps(report))
            failed = [name for name in MUST_WORK if not report[name].startswith("ok ")]
            if failed:
                raise RuntimeError(f"could not write: {', '.join(report[name] for name in failed)}")
            self.calls = 0

        def restore(self, image, person_mask):
            self.calls += 1
            if self.calls == 1:
                write(input_folder(), "planted.txt")
            return image
"""
