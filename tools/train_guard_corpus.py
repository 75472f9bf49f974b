"""Train the learned models of the rescale corpus (tests/rescale_corpus) on natural photographs.

Each honest design of ``tests/rescale_corpus/learned/model.py`` and the cheat's learned x2
upsampler (``tests/rescale_corpus/cheat/model.py``) is trained for a fixed number of steps on one
CPU thread, as a participant would train a first model: random 96-160 px crops of scikit-image
photographs (``TRAINING_PHOTOS``, native size, never upscaled) made low-light exactly as the
sample data's inputs are (``aiflash.forensics_calibration.low_light_capture``), the original
photograph as the target. Held-out crops come from ``VALIDATION_PHOTO``; the photographs the tests
check (``TEST_PHOTOS``) and the sample data are never seen. Prints the training loss and the PSNR
on the held-out crops before and after, and writes the weights as float16 state dicts (well under
1 MB each). Fixed seeds: a re-run on the same torch version writes the same files.

    .venv/bin/python tools/train_guard_corpus.py            # every model, ~2-3 min each
    .venv/bin/python tools/train_guard_corpus.py --models esdnet --steps 5 --out OUT_DIR
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiflash.forensics_calibration import (  # noqa: E402
    TRAINING_PHOTOS,
    VALIDATION_PHOTO,
    capture_of,
    photo,
)

CORPUS = REPO / "tests" / "rescale_corpus"
SHOTS = 4  # low-light captures per training photograph (independent noise)
CROPS = (96, 160)  # px, multiples of 8
BATCH = 4
VALIDATION_CROPS, VALIDATION_SIZE = 12, 128
LEARNING_RATE = 2e-3
# steps per model: about 1-2.5 minutes each on one thread of the development machine
STEPS = {"esdnet": 800, "unet_ps": 400, "convtranspose": 350, "gain_map": 1500, "bilateral_grid": 1200,
         "lut3d": 1200, "denoiser": 800, "unet_bilinear": 400, "learned_x2": 1200}
SEED = 18


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255


def pairs(names: tuple[str, ...], shots: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(low-light capture, original photograph) as (3, H, W) float tensors, ``shots`` per photo."""
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        target = photo(name)
        for _ in range(shots):
            out.append((tensor(capture_of(target, rng)), tensor(target)))
    return out


def crop_batch(data, rng: np.random.Generator, size: int, count: int, flips: bool = True):
    inputs, targets = [], []
    for _ in range(count):
        low, high = data[rng.integers(len(data))]
        top = rng.integers(low.shape[1] - size + 1)
        left = rng.integers(low.shape[2] - size + 1)
        a, b = low[:, top: top + size, left: left + size], high[:, top: top + size, left: left + size]
        if flips and rng.random() < 0.5:
            a, b = a.flip(2), b.flip(2)
        inputs.append(a)
        targets.append(b)
    return torch.stack(inputs), torch.stack(targets)


def psnr(estimate: torch.Tensor, target: torch.Tensor) -> float:
    mse = F.mse_loss(estimate.clamp(0, 1), target).item()
    return 10 * np.log10(1 / max(mse, 1e-12))


def task(name: str, learned, cheat):
    """(network, function from a low-light batch to the output, function making the input from
    the (capture, photo) batch): the x2 upsampler learns to enlarge the half-size photograph."""
    if name == "learned_x2":
        net = cheat.LearnedX2()
        return net, net, lambda low, high: F.avg_pool2d(high, 2)
    net = learned.NETWORKS[name]()
    return net, lambda x: learned.forward(name, net, x), lambda low, high: low


def train(name: str, steps: int, out: Path, learned, cheat, train_data, validation) -> dict:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    net, run, make_input = task(name, learned, cheat)
    val_in, val_target = make_input(*validation), validation[1]

    def evaluate() -> float:
        net.eval()
        with torch.no_grad():
            value = psnr(run(val_in), val_target)
        net.train()
        return value

    before = evaluate()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    started, losses = time.perf_counter(), []
    for _ in range(steps):
        size = int(rng.integers(CROPS[0] // 8, CROPS[1] // 8 + 1)) * 8
        low, high = crop_batch(train_data, rng, size, BATCH)
        loss = F.l1_loss(run(make_input(low, high)), high)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - started
    after = evaluate()
    path = out / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().half() for k, v in net.state_dict().items()}, path)
    first = float(np.mean(losses[:20])) if losses else float("nan")
    last = float(np.mean(losses[-20:])) if losses else float("nan")
    print(f"{name:15s} {steps:4d} steps {seconds:6.1f} s  L1 {first:.4f} -> {last:.4f}  "
          f"held-out PSNR {before:.2f} -> {after:.2f} dB  {path.stat().st_size / 1024:.0f} KB  {path}",
          flush=True)
    return {"steps": steps, "seconds": seconds, "loss_first": first, "loss_last": last,
            "psnr_before": before, "psnr_after": after, "bytes": path.stat().st_size}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(STEPS), default=list(STEPS))
    parser.add_argument("--steps", type=int, help="steps per model (default: the shipped counts)")
    parser.add_argument("--out", type=Path, help="write every weights file here (default: the "
                        "corpus folders, tests/rescale_corpus/{learned,cheat}/weights)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a shared machine; also what makes a re-run bit-identical
    learned = load_module(CORPUS / "learned" / "model.py", "corpus_learned")
    cheat = load_module(CORPUS / "cheat" / "model.py", "corpus_cheat")
    train_data = pairs(TRAINING_PHOTOS, SHOTS, SEED)
    validation_pairs = pairs((VALIDATION_PHOTO,), 1, SEED + 1)
    validation = crop_batch(validation_pairs, np.random.default_rng(SEED + 2), VALIDATION_SIZE,
                            VALIDATION_CROPS, flips=False)
    print(f"training photos {', '.join(TRAINING_PHOTOS)} ({SHOTS} captures each); held-out "
          f"{VALIDATION_CROPS} crops of {VALIDATION_PHOTO}; torch {torch.__version__}, 1 thread")
    for name in args.models:
        folder = args.out or CORPUS / ("cheat" if name == "learned_x2" else "learned") / "weights"
        train(name, args.steps if args.steps is not None else STEPS[name], folder, learned, cheat,
              train_data, validation)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
