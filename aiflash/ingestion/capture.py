"""What the participant's code prints: shown live, but capped so a chatty model cannot flood the
Codabench log (held in memory by the worker) or ingestion.json.

The first ``live_bytes`` are forwarded to our stderr as they come, each line prefixed ``model| ``;
after that only the last ``keep_bytes`` are kept and shown when the run ends. ingestion.json keeps
the first and last ``keep_bytes``.
"""

from __future__ import annotations

import os
import threading
from typing import BinaryIO, TextIO

LIVE_BYTES = 64 * 1024
KEEP_BYTES = 16 * 1024
PREFIX = "model| "


class ModelOutput:
    """Collects the output of one or more successive worker processes (a reader thread each)."""

    def __init__(self, sink: TextIO | None, live_bytes: int = LIVE_BYTES, keep_bytes: int = KEEP_BYTES):
        self._sink = sink
        self._live = live_bytes
        self._keep = keep_bytes
        self._head = bytearray()
        self._tail = bytearray()
        self._total = 0
        self._line_start = True
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def attach(self, stream: BinaryIO) -> None:
        """Start reading ``stream`` (a worker's stdout+stderr pipe) until it closes."""
        thread = threading.Thread(target=self._read, args=(stream,), name="model-output", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _read(self, stream: BinaryIO) -> None:
        fd = stream.fileno()
        try:
            while chunk := os.read(fd, 65536):
                self.feed(chunk)
        except OSError:
            pass
        finally:
            stream.close()

    def feed(self, chunk: bytes) -> None:
        with self._lock:
            shown_before = self._total
            self._total += len(chunk)
            if len(self._head) < self._keep:
                self._head += chunk[: self._keep - len(self._head)]
            self._tail += chunk
            del self._tail[: max(0, len(self._tail) - self._keep)]
            if shown_before < self._live:
                self._show(chunk[: self._live - shown_before])
                if self._total >= self._live:
                    self._note(f"model output passed {self._live // 1024} KB: the rest is not shown "
                               f"live; its last {self._keep // 1024} KB follow at the end")

    def _show(self, chunk: bytes) -> None:
        if self._sink is None or not chunk:
            return
        text = chunk.decode("utf-8", "replace")
        lines = text.split("\n")
        out = []
        for index, line in enumerate(lines):
            if index:
                out.append("\n")
                self._line_start = True
            if line:
                if self._line_start:
                    out.append(PREFIX)
                out.append(line)
                self._line_start = False
        self._sink.write("".join(out))
        self._sink.flush()

    def _note(self, text: str) -> None:
        if self._sink is not None:
            self._sink.write(("" if self._line_start else "\n") + f"[{text}]\n")
            self._sink.flush()
            self._line_start = True

    def finish(self, timeout: float = 2.0) -> None:
        """Wait for the readers (the workers have exited) and show the kept tail if cut."""
        for thread in self._threads:
            thread.join(timeout)
        with self._lock:
            if self._total > self._live:
                self._note(f"last {min(self._keep, self._total) // 1024} KB of model output")
                self._show(bytes(self._tail))
                self._note("end of model output")

    def last_line(self) -> str:
        """The last non-empty line printed, for error messages."""
        with self._lock:
            lines = [ln.strip() for ln in bytes(self._tail).decode("utf-8", "replace").splitlines()]
        lines = [ln for ln in lines if ln]
        return lines[-1][:200] if lines else ""

    def summary(self) -> dict:
        """For ingestion.json: total size and the first and last ``keep_bytes``."""
        with self._lock:
            after_head = self._total - len(self._head)
            tail = bytes(self._tail[-after_head:]) if after_head > 0 else b""
            return {
                "bytes": self._total,
                "head": bytes(self._head).decode("utf-8", "replace"),
                "tail": tail.decode("utf-8", "replace"),
                "omitted_bytes": self._total - len(self._head) - len(tail),
            }
