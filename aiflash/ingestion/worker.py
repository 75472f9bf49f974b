"""The process that runs a participant's model: ``python -m aiflash.ingestion.worker``.

Started by ``runner.py`` in a fresh interpreter (nothing of the parent's state leaks in, and the
parent can kill it at any moment, even inside a C call). It installs the resampling audit, imports
the submission's ``model.py`` once, then serves requests from the parent until told to stop: one
image at a time (per-image API) or the whole folder (folder API). Requests and replies are JSON
over an inherited socket; whatever the participant's code prints goes to this process's
stdout/stderr, which the parent captures.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import platform
import signal
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from ..errors import AiflashError, ReferenceDataError
from ..images import read_person_mask, read_rgb
from .api import FOLDER, error_line, load_participant_model, traceback_tail
from .audit import ResamplingAudit, classify
from .guard import audit_verdict, check_result, rejection


class _Channel:
    """JSON messages over the socket inherited from the parent; a restored image travels in the
    same message, after the JSON line, as raw HxWx3 uint8 bytes (the parent writes the PNG while
    this process restores the next image)."""

    def __init__(self, fd: int):
        self._conn = Connection(fd)

    def send(self, message: dict, pixels: np.ndarray | None = None) -> None:
        header = json.dumps(message).encode() + b"\n"
        if pixels is None:
            self._conn.send_bytes(header)
            return
        buffer = bytearray(len(header) + pixels.nbytes)
        buffer[: len(header)] = header
        buffer[len(header):] = memoryview(np.ascontiguousarray(pixels)).cast("B")
        self._conn.send_bytes(buffer)

    def receive(self) -> dict:
        return json.loads(self._conn.recv_bytes())


def _nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version (torch does not expose it): from the kernel module's
    /proc entry, else from nvidia-smi; None when neither is there."""
    try:
        words = Path("/proc/driver/nvidia/version").read_text(errors="replace").split("Kernel Module", 1)
        version = words[-1].split()[0] if len(words) == 2 and words[-1].split() else ""
        if version[:1].isdigit():
            return version
    except OSError:
        pass
    try:
        import subprocess

        result = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = result.stdout.split()
    return lines[0] if result.returncode == 0 and lines and lines[0][:1].isdigit() else None


def model_parameters(model: object) -> int | None:
    """Parameters of the torch modules a participant's model holds (itself, its attributes, or
    lists/dicts of them, each counted once), or None when it exposes none."""
    import torch

    modules, seen = [], set()
    candidates = [model, *vars(model).values()] if hasattr(model, "__dict__") else [model]
    for value in candidates:
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) \
            else [value]
        modules += [m for m in items if isinstance(m, torch.nn.Module)]
    if not modules:
        return None
    for module in modules:
        seen.update((id(p), p.numel()) for p in module.parameters())
    return sum(count for _, count in seen)


def _environment(device: str) -> dict:
    import torch

    from ..device import device_description

    cuda = device.startswith("cuda")
    return {
        "device": device,
        "device_name": device_description(device),
        "gpu_name": torch.cuda.get_device_name(device) if cuda else None,
        "driver": _nvidia_driver() if cuda else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32),
        "seeds": f"random, numpy and torch seeded with {MODEL_SEED} before every model call",
    }


class _Gpu:
    """Peak GPU memory per request, and exact timings (CUDA work is asynchronous)."""

    def __init__(self, device: str):
        import torch

        self._torch = torch if device.startswith("cuda") else None
        self._device = device

    def reset(self) -> None:
        if self._torch is not None:
            self._torch.cuda.reset_peak_memory_stats(self._device)

    def sync(self) -> None:
        if self._torch is not None:
            self._torch.cuda.synchronize(self._device)

    def peak_mb(self) -> float | None:
        if self._torch is None:
            return None
        return round(self._torch.cuda.max_memory_allocated(self._device) / 2**20, 1)


class Worker:
    def __init__(self, code_root: Path, device: str, policy: str, audit: ResamplingAudit):
        import torch

        self.root = code_root
        self.device = device
        self.policy = policy
        self.audit = audit
        self.gpu = _Gpu(device)
        self._no_grad = torch.no_grad
        self.model = None

    def load(self) -> dict:
        start = time.perf_counter()
        self.model = load_participant_model(self.root, self.device)
        # Tampering while model.py was imported and the model built (a reload, gc searches).
        findings = classify(self.audit.pending_tampering(), set(), None, None, self.policy)
        return {"op": "ready", "api": self.model.kind, "load_s": round(time.perf_counter() - start, 3),
                "findings": [f.as_dict() for f in findings]}

    def restore_image(self, request: dict) -> tuple[dict, np.ndarray | None]:
        """Decode, restore and check one image: the reply, and the result when it passed."""
        reply = {"op": "image_done", "stem": request["stem"], "status": "failed", "error": None,
                 "details": None, "model_s": None, "peak_gpu_memory_mb": None, "findings": [],
                 "audit_verdict": "clean"}
        try:
            image, _ = read_rgb(Path(request["input"]), error=ReferenceDataError)
            person = read_person_mask(Path(request["mask"]))
            if person.shape != image.shape[:2]:
                raise ReferenceDataError(f"{request['mask']}: person mask is {person.shape} but its input "
                                         f"is {image.shape[:2]} (HxW); fix the input data.")
        except AiflashError as exc:
            reply["error"] = f"organiser input data: {exc}"
            return reply, None
        shape = image.shape
        result, observations = self._call_model(reply, "restore()", {shape[:2]},
                                                lambda: self.model.model.restore(image, person))
        rgb = None
        if not reply["error"]:
            try:
                rgb = check_result(result, shape)
            except AiflashError as exc:
                reply["error"] = str(exc)
        # The line is drawn on the returned image: a round trip is proven when it *is* an enlargement.
        findings = classify(observations, {shape[:2]}, request["stem"], rgb, self.policy)
        reply["findings"] = [f.as_dict() for f in findings]
        reply["audit_verdict"] = audit_verdict(findings)
        rejected = rejection(findings, self.policy)
        if rejected:
            reply["error"] = rejected
            if rgb is not None:  # the result still travels, to be screened (never written) for review
                reply["shape"] = list(rgb.shape)
                return reply, rgb
        if reply["error"]:
            return reply, None
        reply["status"] = "ok"
        reply["shape"] = list(rgb.shape)
        return reply, rgb

    def run_folder(self, request: dict) -> dict:
        """Call main() on the whole folder; the parent validates the files it wrote."""
        reply = {"op": "folder_done", "error": None, "details": None, "model_s": None,
                 "peak_gpu_memory_mb": None, "observations": []}
        sizes = {tuple(size) for size in request["sizes"]}
        _, observations = self._call_model(reply, "main()", sizes, lambda: self.model.main(
            str(self.root), request["input_dir"], request["output_dir"], self.device))
        # The parent draws the line per image, with the files main() wrote (audit.classify).
        reply["observations"] = [o.as_dict() for o in observations]
        return reply

    def _call_model(self, reply: dict, label: str, sizes: set, call):
        """Run participant code under the audit, timing it and recording into ``reply`` its
        time, peak GPU memory and, if it raised, the error; returns (result, audit observations)."""
        result = None
        self.gpu.reset()
        seed_everything()
        with self.audit.watch(sizes) as observations:
            start = time.perf_counter()
            try:
                with self._no_grad():
                    result = call()
                self.gpu.sync()
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                reply["error"] = f"{label} raised {error_line(exc, self.root)}"
                reply["details"] = traceback_tail(exc, self.root)
                print(reply["details"], file=sys.stderr, flush=True)
                result = None
            reply["model_s"] = round(time.perf_counter() - start, 4)
        reply["peak_gpu_memory_mb"] = self.gpu.peak_mb()
        return result, observations


MODEL_SEED = 0


def seed_everything(seed: int = MODEL_SEED) -> None:
    """Set every seed the ingestion program controls (Python's, NumPy's global, torch's on every
    device) before each model call: a model whose randomness comes from them gives the same output
    for the same input, which the resolution probe's repeat call relies on."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _die_with_parent(parent_pid: int) -> None:
    """Linux: be killed when the ingestion program dies, even if the model never returns."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)


def _prepare_process(code_root: Path, stack_dump: Path) -> None:
    # The parent sends SIGUSR1 before killing a model that overran its time: the stack then says
    # where it was stuck (faulthandler writes from C, so it works in `while True: pass` too).
    dump = open(stack_dump, "w")  # kept open for the life of the process
    faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)
    os.chdir(code_root)  # relative paths in participant code resolve inside the submission
    sys.dont_write_bytecode = True  # leave the submission folder as it was unpacked (maybe read-only)


def _contain(args: argparse.Namespace, device: str) -> dict:
    """The sandbox, applied just before participant code is imported; what is active."""
    from .. import sandbox

    if args.no_sandbox:
        return sandbox.unconfined().as_dict()
    policy = sandbox.SandboxPolicy(writable=tuple(args.writable), network=args.allow_network,
                                   gpu=device.startswith("cuda"))
    return sandbox.confine(policy).as_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a participant's model for the ingestion program.")
    parser.add_argument("--submission-dir", type=Path, required=True)
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--stack-dump", type=Path, required=True)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--device", default=None)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--writable", type=Path, action="append", default=[],
                        help="a folder the model may write beneath (repeated)")
    parser.add_argument("--allow-network", action="store_true", help="leave sockets of every family open")
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    if args.parent_pid:
        _die_with_parent(args.parent_pid)
    channel = _Channel(args.control_fd)
    code_root = args.submission_dir.resolve()
    _prepare_process(code_root, args.stack_dump)

    audit = ResamplingAudit(code_root)
    audit.install()  # before model.py is imported: `from cv2 import resize` must bind the wrapper
    environment: dict = {}
    from ..device import disable_tf32, pick_device

    try:
        device = pick_device(args.device)
        disable_tf32()  # the participant's model runs on torch, whatever the device
    except RuntimeError as exc:  # CUDA asked for but absent: the organisers' setting, not the model
        channel.send({"op": "load_failed", "error": f"device: {exc} (--device {args.device})",
                      "details": None, "environment": environment})
        return 0
    try:
        environment = _environment(device)
        worker = Worker(code_root, device, args.policy, audit)
        environment["sandbox"] = _contain(args, device)
        ready = worker.load()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        message = str(exc) if isinstance(exc, AiflashError) else f"model.py: {error_line(exc, code_root)}"
        details = traceback_tail(exc.__cause__ or exc, code_root)
        print(details, file=sys.stderr, flush=True)
        channel.send({"op": "load_failed", "error": message, "details": details, "environment": environment})
        return 0
    # The folder API builds its model inside main(): nothing to count before it runs.
    participant = worker.model.model
    environment["model_parameters"] = model_parameters(participant) if participant is not None else None
    channel.send({**ready, "environment": environment})
    while True:
        request = channel.receive()
        if request["op"] == "stop":
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)  # skips the interpreter's teardown (a second with torch loaded): nothing to save
        if request["op"] == "image" and worker.model.kind != FOLDER:
            channel.send(*worker.restore_image(request))
        elif request["op"] == "folder" and worker.model.kind == FOLDER:
            channel.send(worker.run_folder(request))
        else:
            raise RuntimeError(f"unexpected request {request['op']!r} for a {worker.model.kind} model")


if __name__ == "__main__":
    sys.exit(main())
