"""`aiflash reproduce`: re-run every team's code submission in the competition image, score it,
and compare with the online leaderboard (see docs/organisers.md)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..bundle import BUNDLE_NAME
from ..codabench.layout import pulled
from ..errors import ProfileError
from ..profile import load_profile
from ..reproduce import DOCKER_IMAGE
from ..reproduce.errors import ReproductionError
from ..reproduce.pipeline import DEFAULT_TIMEOUT_S, ReproductionConfig, check_data, run
from ..reproduce.programs import unpack_programs
from ..reproduce.runners import ContainerLimits, ContainerRunner, LocalRunner
from ..reproduce.schedule import parse_gpus
from ..reproduce.steps import Programs, TeamLayout, ingestion_step, scoring_step
from ..reproduce.submissions import discover

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO / "dist" / f"{BUNDLE_NAME}.zip"  # what `make bundle` writes


def _runner(args: argparse.Namespace):
    if args.runner == "local":
        return LocalRunner()
    limits = ContainerLimits(memory=args.memory, shm_size=args.shm_size, pids_limit=args.pids_limit,
                             tmp_size=args.tmp_size)
    return ContainerRunner(args.image, docker=args.docker, limits=limits, user=args.user)


def _dry_run(config: ReproductionConfig) -> int:
    """Print each team's two command lines (GPU as the first hand-out would give it)."""
    check_data(config.data)
    submissions = discover(config.submissions, set(config.teams) if config.teams else None)
    for index, submission in enumerate(submissions):
        slot = config.slots[index % len(config.slots)]
        layout = TeamLayout(config.output_dir / "teams" / submission.team)
        print(f"# {submission.team} ({submission.source})")
        for build in (ingestion_step, scoring_step):
            step = build(submission.team, layout, config.data, config.programs, slot, config.timeout_s)
            print(shlex.join(config.runner.describe(step)))
    return 0


def take_pulled(args: argparse.Namespace) -> None:
    """A folder from `aiflash codabench pull` as --submissions (or --online, --online-outputs)
    gives all three: its team zips, its leaderboard and its prediction outputs."""
    for option in ("submissions", "online", "online_outputs"):
        pull = pulled(getattr(args, option))
        if pull is None:
            continue
        args.submissions = pull.submissions if option == "submissions" else args.submissions
        if option == "online" or args.online is None:
            args.online = pull.leaderboard
        if option == "online_outputs" or (args.online_outputs is None and pull.predictions.is_dir()):
            args.online_outputs = pull.predictions
        print(f"Pulled from Codabench: {pull.description} ({pull.root})")


def run_command(args: argparse.Namespace) -> int:
    take_pulled(args)
    try:
        slots = parse_gpus(args.gpus)
    except ValueError as exc:
        raise ReproductionError(f"--gpus: {exc}") from exc
    if args.tolerance < 0:
        raise ReproductionError("--tolerance must be >= 0 (Score points).")
    if args.repeat < 1:
        raise ReproductionError("--repeat must be >= 1 (ingestion runs per team).")
    try:
        rules = load_profile(args.profile).output_consistency
    except ProfileError as exc:
        raise ReproductionError(f"--profile: {exc}") from exc
    extra = (tuple(shlex.split(args.ingestion_args)), tuple(shlex.split(args.scoring_args)))
    if (args.ingestion_program is None) != (args.scoring_program is None):
        raise ReproductionError("--ingestion-program and --scoring-program go together (program folders "
                                "instead of the bundle); give both, or neither to use --bundle.")
    if args.ingestion_program is not None:
        bundle, programs = None, Programs(args.ingestion_program, args.scoring_program, *extra)
    else:
        bundle = unpack_programs(args.bundle, args.output_dir / "programs")
        programs = Programs(bundle.programs.ingestion, bundle.programs.scoring, *extra)
    config = ReproductionConfig(
        submissions=args.submissions, data=args.data, output_dir=args.output_dir, programs=programs,
        runner=_runner(args), slots=slots, tolerance=args.tolerance, force=args.force,
        timeout_s=args.timeout, online=args.online,
        teams=frozenset(t.strip() for t in args.teams.split(",") if t.strip()) if args.teams else None,
        bundle=bundle, allow_version_mismatch=args.allow_version_mismatch,
        online_outputs=args.online_outputs, repeat=args.repeat, rules=rules,
    )
    if args.dry_run:
        return _dry_run(config)
    outcome = run(config)
    for result in outcome.results:
        score = f"{result.score:.4f}" if result.score is not None else "-"
        reason = result.reason if len(result.reason) <= 120 else result.reason[:117] + "..."
        print(f"{result.team:<24} {result.status:<7} Score {score:>9}  {reason}")
    for path in outcome.report.values():
        print(f"report: {path}")
    # Failures and discrepancies are findings, written in the report; only a run that could not
    # execute some team (Docker down, interrupted) exits non-zero, so the organiser re-runs it.
    return 3 if any(r.status == "error" for r in outcome.results) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="re-run every team's code submission in the competition image and "
                          "compare with the online leaderboard",
        description="Re-run each team's code submission (ingestion, then scoring) one team per GPU, "
                    "isolated from the ground truth and the network, and report reproduced vs "
                    "online Score. Finished teams are kept unless --force.")
    parser.add_argument("--submissions", type=Path, required=True,
                        help="folder with one <team>.zip or <team>/ per team (model.py at its root), or "
                             "a folder from 'aiflash codabench pull' of the code phase (then --online "
                             "and --online-outputs default to its leaderboard and prediction outputs)")
    parser.add_argument("--data", type=Path, required=True,
                        help="hidden phase data: a folder holding input/, gt/ and mask_personmask/")
    parser.add_argument("--output-dir", type=Path, default=Path("reproduction"),
                        help="where teams/<team>/ and reproduction.{csv,json,html} go "
                             "(default: ./reproduction)")
    parser.add_argument("--online", type=Path, default=None,
                        help="online leaderboard export: CSV with a team column and Score")
    parser.add_argument("--runner", choices=("docker", "local"), default="docker",
                        help="docker: isolated containers (default); local: subprocesses with this "
                             "Python, same layout, no isolation (trusted code only)")
    parser.add_argument("--image", default=DOCKER_IMAGE, help=f"competition image (default {DOCKER_IMAGE}); "
                        "a name@sha256:… digest pins it exactly")
    parser.add_argument("--gpus", default="0",
                        help="GPUs to use, one team per GPU at a time: e.g. 0,1 or GPU UUIDs; "
                             "'none' runs on CPU, one team at a time (default: 0)")
    parser.add_argument("--tolerance", type=float, default=0.5,
                        help="flag |reproduced - online| above this many Score points (default 0.5)")
    parser.add_argument("--force", action="store_true", help="recompute teams that already finished")
    parser.add_argument("--teams", default="", help="only these teams (comma-separated)")
    parser.add_argument("--dry-run", action="store_true", help="print the command lines and stop")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"runner's limit per step in seconds, a backstop behind the ingestion "
                             f"program's own limits (default {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE,
                        help="the bundle zip uploaded to Codabench: its code phase's ingestion and scoring "
                             "programs run at /app/program, as online (default: the one `make bundle` "
                             f"wrote, {DEFAULT_BUNDLE.relative_to(REPO)})")
    parser.add_argument("--allow-version-mismatch", action="store_true",
                        help="run even when the bundle's programs and the image carry different aiflash "
                             "versions (the report says so)")
    parser.add_argument("--online-outputs", type=Path, default=None,
                        help="folder of each team's online prediction output (prediction_result.zip "
                             "downloaded from Codabench) as <team>.zip or <team>/: compared image by image "
                             "with the reproduced outputs")
    parser.add_argument("--repeat", type=int, default=1,
                        help="ingestion runs per team (default 1); >1 reports run-to-run output "
                             "differences and the time spread per image")
    parser.add_argument("--profile", default="default",
                        help="scoring profile whose output_consistency tolerances apply (default: default)")
    parser.add_argument("--ingestion-program", type=Path, default=None,
                        help="development only: an ingestion program folder instead of the bundle's "
                             "(with --scoring-program)")
    parser.add_argument("--scoring-program", type=Path, default=None,
                        help="development only: a scoring program folder instead of the bundle's")
    parser.add_argument("--ingestion-args", default="", help="extra options for ingestion.py (quoted)")
    parser.add_argument("--scoring-args", default="", help="extra options for score.py (quoted)")
    container = parser.add_argument_group("container limits (docker runner)")
    container.add_argument("--docker", default="docker", help="docker-compatible CLI (default docker)")
    container.add_argument("--memory", default="64g", help="memory limit, no swap (default 64g)")
    container.add_argument("--shm-size", default="8g", help="/dev/shm size (default 8g)")
    container.add_argument("--pids-limit", type=int, default=4096, help="process limit (default 4096)")
    container.add_argument("--tmp-size", default="16g", help="tmpfs /tmp size (default 16g)")
    container.add_argument("--user", default=None,
                           help="uid:gid inside the container (default: yours, who own the outputs)")
    parser.set_defaults(handler=run_command)
