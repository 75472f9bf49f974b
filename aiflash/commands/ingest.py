"""`aiflash ingest` and the Codabench ingestion program: run a code submission on the inputs."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from ..errors import ModelError
from ..ingestion.audit import Finding
from ..ingestion.guard import DEFAULT_POLICY, POLICIES
from ..ingestion.record import INGESTION_FILE, probe_line
from ..ingestion.runner import (
    DEFAULT_IMAGE_TIME_LIMIT_S,
    DEFAULT_LOAD_TIME_LIMIT_S,
    DEFAULT_TIME_BUDGET_S,
    IngestionConfig,
    run_ingestion,
)
from ..profile import load_profile
from ..sandbox import SandboxReport
from . import add_folder_options

CODABENCH_DEFAULTS = {
    "input_dir": "/app/input_data",
    "submission_dir": "/app/ingested_program",
    "output_dir": "/app/output",
}


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser, defaults: dict[str, str] | None = None) -> None:
    """The ingestion options; with ``defaults`` (the Codabench paths) the folders are optional."""
    add_folder_options(parser, (
        ("input_dir", "folder holding input/ and mask_personmask/"),
        ("submission_dir", "the unzipped code submission (model.py at its root)"),
        ("output_dir", "where <stem>.png results and ingestion.json go"),
    ), defaults)
    parser.add_argument("--policy", choices=POLICIES, default=DEFAULT_POLICY,
                        help="what a resampling-audit finding does: reject fails the image, flag only "
                             f"records it (default: {DEFAULT_POLICY})")
    parser.add_argument("--image-time-limit", type=_seconds, default=DEFAULT_IMAGE_TIME_LIMIT_S,
                        metavar="SECONDS", help="longest time for one image "
                                               f"(default: {DEFAULT_IMAGE_TIME_LIMIT_S:g})")
    parser.add_argument("--load-time-limit", type=_seconds, default=DEFAULT_LOAD_TIME_LIMIT_S,
                        metavar="SECONDS", help="longest time to import model.py and build the model "
                                               f"(default: {DEFAULT_LOAD_TIME_LIMIT_S:g})")
    parser.add_argument("--time-budget", type=_seconds, default=DEFAULT_TIME_BUDGET_S, metavar="SECONDS",
                        help="total time for the whole run; keep it below the phase's "
                             f"execution_time_limit (default: {DEFAULT_TIME_BUDGET_S:g})")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--probe-images", type=_count, default=None, metavar="N",
                        help="images the resolution probe measures (three extra model calls each; 0: no "
                             "probe; default: the profile's probe.images)")
    parser.add_argument("--profile", default="default",
                        help="scoring profile whose forensics and probe settings apply (name or YAML file)")
    parser.add_argument("--allow-network", action="store_true",
                        help="let the model open network sockets (TCP, UDP, DNS; denied by default "
                             "where seccomp and the kernel's Landlock support it)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the model unconfined: no write, network, file-size or process limits "
                             "(for trusted code, or to compare)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-image lines")


def run(args: argparse.Namespace) -> int:
    tty = sys.stderr.isatty()
    profile = load_profile(args.profile)
    probe = profile.probe if args.probe_images is None else replace(profile.probe, images=args.probe_images)
    config = IngestionConfig(
        input_dir=args.input_dir, submission_dir=args.submission_dir, output_dir=args.output_dir,
        device=args.device, policy=args.policy, image_time_limit_s=args.image_time_limit,
        load_time_limit_s=args.load_time_limit, time_budget_s=args.time_budget,
        allow_network=args.allow_network, sandbox=not args.no_sandbox,
        progress=tty and not args.quiet, verbose=not tty and not args.quiet,
        forensics=profile.forensics, probe=probe,
    )
    outcome = run_ingestion(config)
    if not outcome.ran:
        print(f"No model.py in {args.submission_dir}: a result submission, nothing to run "
              f"(the output folder is left as it is).")
        return 0
    record = outcome.record
    env = record.get("environment") or {}
    print(f"Ingestion: {record['images_ok']} of {record['images_total']} images restored in "
          f"{record['total_s']:.1f} s on {env.get('device_name') or env.get('device') or 'no device'} "
          f"({record['api'] or 'model not loaded'} API); code audit: {len(record['guard_findings'])} "
          f"finding(s), policy {record['policy']}.")
    if record["mean_model_s"] is not None:
        print(f"  mean model time per image {record['mean_model_s']:.3f} s"
              + (f", peak GPU memory {record['peak_gpu_memory_mb']:.0f} MB"
                 if record["peak_gpu_memory_mb"] is not None else ""))
    if record.get("sandbox"):
        print(f"  sandbox: {SandboxReport(**record['sandbox']).summary()}")
    if record.get("stray_processes_ended"):
        print(f"  ended {record['stray_processes_ended']} stray process(es) the model left running")
    if record.get("probe", {}).get("verdict"):
        print(f"  {probe_line(record['probe'])}")
    print(verdict_line(record))
    shown = [f for f in record["guard_findings"] if f.get("severity") != "info"] or record["guard_findings"]
    for finding in shown[:10]:
        print(f"  guard ({finding.get('severity', 'flag')}): {finding.get('image') or '(all images)'}: "
              f"{Finding.from_dict(finding).describe()}")
    print(f"Outputs in {args.output_dir} ({INGESTION_FILE} has the details).")
    if outcome.failed:
        raise ModelError(outcome.failure_line())
    return 0


def verdict_line(record: dict) -> str:
    """One line for the log: how many images are clean, flagged for review, rejected."""
    counts = record.get("rescale_verdicts") or {}
    flagged = [e["image"] for e in record.get("images", []) if e.get("rescale_verdict") == "flagged"]
    listed = f" ({', '.join(flagged[:8])}{', ...' if len(flagged) > 8 else ''})" if flagged else ""
    return (f"Rescaling verdicts: {counts.get('clean', 0)} clean, {counts.get('flagged', 0)} flagged for the "
            f"organisers' review{listed}, {counts.get('rejected', 0)} rejected (audit, content check and "
            f"probe; details in {INGESTION_FILE}).")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ingest", help="run a code submission's model on a folder of inputs")
    add_arguments(parser)
    parser.set_defaults(handler=run)
