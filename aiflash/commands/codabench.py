"""`aiflash codabench`: upload the bundle, pull a phase into a folder the leaderboard, statistics
and reproduction commands read, request re-runs and follow them (see docs/organisers.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..codabench import credentials
from ..codabench.client import CodabenchClient, Retry
from ..codabench.layout import LEADERBOARD_FILE, PREDICTIONS_DIR, SCORING_DIR
from ..codabench.pull import pull as fetch
from ..codabench.rerun import follow
from ..codabench.rerun import rerun as request
from ..codabench.upload import check_bundle
from ..codabench.upload import upload as send
from ..errors import CodabenchError
from ..leaderboard import load_results
from ..leaderboard.sources import load_per_image


def _ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected submission ids, e.g. 12,15") from None
    if not ids:
        raise argparse.ArgumentTypeError("expected at least one submission id")
    return ids


def _client(args: argparse.Namespace):
    if args.retries < 0 or args.timeout <= 0:
        raise CodabenchError("--retries must be >= 0 and --timeout > 0.")
    retry = Retry(tries=args.retries + 1, backoff_s=args.backoff, timeout_s=args.timeout)
    return CodabenchClient(credentials.load(file=args.credentials), retry,
                           log=lambda line: print(line, file=sys.stderr))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def upload(args: argparse.Namespace) -> int:
    check_bundle(args.bundle, args.allow_default_queue, _stderr)
    client = _client(args)
    competition = send(client, args.bundle, args.poll, args.wait_timeout, progress=_stderr)
    print(f"Competition {competition} created: {client.site}/competitions/{competition}/")
    return 0


def pull(args: argparse.Namespace) -> int:
    teams = [t.strip() for t in args.teams.split(",") if t.strip()] if args.teams else None
    if args.top is not None and args.top < 1:
        raise CodabenchError("--top must be >= 1.")
    result = fetch(_client(args), args.competition, args.phase, args.output, args.top, teams, args.jobs)
    for item in result.skipped:
        sid = item["submission_id"] if item["submission_id"] is not None else "-"
        print(f"  skipped: {item['team']} submission {sid}: {item['reason']}")
    print(f"Pulled {len(result.entries)} team(s) of phase {args.phase} into {args.output}: "
          f"{result.fetched} file(s) fetched, {result.kept} already there and unchanged, "
          f"{len(result.skipped)} skipped; every file is in {args.output / 'manifest.json'}.")
    if result.entries:  # the folder loads as the next commands will load it
        load_results(args.output / LEADERBOARD_FILE)
        if (args.output / SCORING_DIR).is_dir():
            load_per_image(args.output / SCORING_DIR)
        step = (f"aiflash reproduce --submissions {args.output} --data HIDDEN_DATA"
                if (args.output / PREDICTIONS_DIR).is_dir() else
                f"aiflash leaderboard --phase{args.phase} {args.output}")
        print(f"Next: {step}")
    return 0


def _confirm(assume_yes: bool):
    def confirm(question: str) -> bool:
        if assume_yes:
            return True
        if not sys.stdin or not sys.stdin.isatty():
            raise CodabenchError(f"{question} Asking before re-running, but stdin is not a terminal: "
                                 f"pass --yes to re-run without asking.")
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    return confirm


def rerun(args: argparse.Namespace) -> int:
    if not args.submissions and not args.all:
        raise CodabenchError("give --submissions IDS or --all (every submission of the phase).")
    ids = request(_client(args), args.competition, args.phase, args.submissions, _confirm(args.yes))
    print(f"New submission(s): {', '.join(map(str, ids)) or 'none listed yet'}")
    if ids:
        print(f"Follow them: aiflash codabench status --submissions {','.join(map(str, ids))} --wait")
    return 0


def status(args: argparse.Namespace) -> int:
    seen = follow(_client(args), args.submissions, args.wait, args.poll, args.wait_timeout)
    return 0 if not args.wait or all(s == "Finished" for s in seen.values()) else 1


def _common(parser: argparse.ArgumentParser) -> None:
    site = parser.add_argument_group(
        "site", "CODABENCH_URL plus CODABENCH_TOKEN or CODABENCH_USERNAME/CODABENCH_PASSWORD, from the "
                "environment or a credentials file (KEY=VALUE lines, mode 0600)")
    site.add_argument("--credentials", type=Path, default=None,
                      help="credentials file (default: $CODABENCH_CREDENTIALS, else "
                           "~/.config/aiflash/codabench.env if it exists)")
    site.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    site.add_argument("--retries", type=int, default=4,
                      help="retries of a GET/PUT after a 5xx, a timeout or a broken transfer (default 4)")
    site.add_argument("--backoff", type=float, default=1.0,
                      help="seconds before the first retry, doubled for each next one (default 1)")


def _wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--poll", type=float, default=5.0, help=f"seconds between {what} checks (default 5)")
    parser.add_argument("--wait-timeout", type=float, default=3600.0,
                        help="give up waiting after this many seconds (default 3600)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "codabench", help="the live competition: upload the bundle, pull leaderboards and outputs, re-run",
        description="Talk to a Codabench site as the competition's organiser.")
    commands = parser.add_subparsers(dest="codabench_command", required=True, metavar="SUBCOMMAND")

    up = commands.add_parser("upload", help="check and upload a bundle zip; print the competition's id")
    up.add_argument("bundle", type=Path, help="the bundle zip (make bundle: dist/<name>.zip)")
    up.add_argument("--allow-default-queue", action="store_true",
                    help="upload even though a code phase has no `queue:` (600 s per job, no GPU)")
    _wait_options(up, "unpacking status")
    _common(up)
    up.set_defaults(handler=upload)

    get = commands.add_parser(
        "pull", help="a phase's leaderboard (stored values), scoring outputs, code and prediction outputs",
        description="Fetch into --output what `aiflash leaderboard`/`stats` (--phaseN DIR) and `aiflash "
                    "reproduce` (--submissions DIR) read, with manifest.json; run again to resume.")
    get.add_argument("--competition", type=int, required=True, help="competition id")
    get.add_argument("--phase", type=int, required=True, help="phase number, 1-based in phase order")
    get.add_argument("--output", type=Path, required=True, help="the pull folder (created or resumed)")
    chosen = get.add_mutually_exclusive_group()
    chosen.add_argument("--top", type=int, default=None, help="only the K best teams of the leaderboard")
    chosen.add_argument("--teams", default=None, help="only these teams (owners), comma-separated")
    get.add_argument("--jobs", type=int, default=4, help="parallel downloads (default 4)")
    _common(get)
    get.set_defaults(handler=pull)

    again = commands.add_parser("rerun", help="re-run submissions of a phase (asks first unless --yes)")
    again.add_argument("--competition", type=int, required=True, help="competition id")
    again.add_argument("--phase", type=int, required=True, help="phase number, 1-based in phase order")
    which = again.add_mutually_exclusive_group()
    which.add_argument("--submissions", type=_ids, default=None, help="submission ids, comma-separated")
    which.add_argument("--all", action="store_true", help="every submission of the phase without a parent")
    again.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _common(again)
    again.set_defaults(handler=rerun)

    follow = commands.add_parser("status", help="submissions' status and Score; --wait until final")
    follow.add_argument("--submissions", type=_ids, required=True, help="submission ids, comma-separated")
    follow.add_argument("--wait", action="store_true",
                        help="poll until each is Finished, Failed or Cancelled (exit 1 unless all Finished)")
    _wait_options(follow, "status")
    _common(follow)
    follow.set_defaults(handler=status)
