"""Check a bundle against every Codabench rule that can be checked offline (codabench.md §1, §4, §7).

``validate_bundle`` returns *every* problem, each tagged with the rule it breaks, so a builder can
refuse with the whole list at once; Codabench itself stops at the first error, or accepts the
bundle and fails silently later (ignored keys, lost times, "n/a" columns).
"""

from __future__ import annotations

import argparse
import re
import shlex
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from ..archives import check_zip, safe_extract
from ..errors import BundleError
from ..report import LEADERBOARD_KEYS
from . import DOCKER_IMAGE
from .dates import codabench_datetime, date_problem

YAML_NAME = "competition.yaml"
METADATA_NAMES = ("metadata.yaml", "metadata")  # the worker's lookup order; never metadata.yml
DEFAULT_QUEUE_TIME_CAP = 600  # MAX_EXECUTION_TIME_LIMIT on Codabench's default queue (§2.7)
MODEL_DEFAULT_TIME_LIMIT = 600  # Phase.execution_time_limit's default when the yaml gives none
LOGO_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
SUBMISSION_RULES = ("Add", "Add_And_Delete", "Add_And_Delete_Multiple", "Force_Last",
                    "Force_Latest_Multiple", "Force_Best")

# Keys the v2 unpacker reads, per level (§1.2, §1.4-1.8). Anything else is silently ignored there.
TOP_KEYS = {
    "version", "title", "description", "image", "terms", "pages", "tasks", "solutions", "phases",
    "leaderboards", "docker_image", "queue", "registration_auto_approve", "enable_detailed_results",
    "show_detailed_results_in_submission_panel", "show_detailed_results_in_leaderboard",
    "auto_run_submissions", "can_participants_make_submissions_public", "make_programs_available",
    "make_input_data_available", "competition_type", "fact_sheet", "reward", "contact_email",
    "forum_enabled",
}
BOOL_KEYS = {
    "registration_auto_approve", "enable_detailed_results", "show_detailed_results_in_submission_panel",
    "show_detailed_results_in_leaderboard", "auto_run_submissions",
    "can_participants_make_submissions_public", "make_programs_available", "make_input_data_available",
    "forum_enabled",
}
TASK_KEYS = {"index", "key", "name", "description", "scoring_program", "ingestion_program",
             "input_data", "reference_data", "ingestion_only_during_scoring"}
TASK_DATA_KEYS = ("scoring_program", "ingestion_program", "input_data", "reference_data")
SOLUTION_KEYS = {"index", "tasks", "key", "path", "name", "description"}
PAGE_KEYS = {"file", "title"}
PHASE_KEYS = {
    "index", "name", "description", "start", "end", "max_submissions_per_day", "max_submissions",
    "execution_time_limit", "tasks", "auto_migrate_to_this_phase", "hide_output",
    "hide_prediction_output", "hide_score_output", "public_data", "starting_kit",
}
PHASE_BOOL_KEYS = {"auto_migrate_to_this_phase", "hide_output", "hide_prediction_output",
                   "hide_score_output"}
LEADERBOARD_KEYS_READ = {"title", "key", "columns", "submission_rule", "hidden", "primary_index"}
COLUMN_KEYS = {"title", "key", "index", "sorting", "computation", "computation_indexes", "precision",
               "hidden"}
SHELL_OPERATORS = {"&&", "||", "|", ";", ">", ">>", "<", "2>", "&"}
# The worker's own replace_legacy_metadata_command placeholders: replaced before the split.
LEGACY_PLACEHOLDERS = ("$input", "$output", "$program", "$ingestion_program", "$hidden", "$shared",
                       "$submission_program", "$tmp", "$predictions")
FACT_SHEET_KEYS = {"key", "type", "title", "selection", "is_required", "is_on_leaderboard"}

# Keys people write because the docs or examples show them, with what Codabench really does.
IGNORED_HINTS = {
    "leaderboard": "Codabench reads `leaderboards:` (plural, a list); `leaderboard:` fails the upload "
                   "(\"Could not find leaderboards\")",
    "max_submissions_per_person": "Codabench ignores it (the default 100 applies); the key is "
                                  "`max_submissions`",
    "accepts_only_result_submissions": "Codabench never reads it; a results-only phase is a task "
                                       "without ingestion_program",
    "allow_robot_submissions": "the v2 unpacker never reads it",
    "is_public": "the v2 unpacker never reads a task's is_public",
    "solutions": "per-phase solutions are never read; list them under the top-level `solutions:`",
    "index": "a leaderboard's index is never read; only the first leaderboard is used",
    "execution_time_limit_ms": "the key is `execution_time_limit`, in seconds",
}


@dataclass(frozen=True)
class Problem:
    """One broken rule: ``rule`` is a short tag (tests and people grep for it)."""

    rule: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        kind = "warning" if self.warning else "error"
        return f"{YAML_NAME}: {kind} [{self.rule}] {self.message}"


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if not p.warning]


class _Checker:
    """Collects problems while walking one parsed competition.yaml."""

    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []

    def add(self, rule: str, message: str, warning: bool = False) -> None:
        self.problems.append(Problem(rule, message, warning))

    # -- generic helpers -------------------------------------------------------------------
    def unknown_keys(self, where: str, item: dict, known: set[str]) -> None:
        for key in item:
            if key not in known:
                hint = IGNORED_HINTS.get(key, "Codabench's v2 unpacker does not read this key")
                self.add("ignored-key", f"{where}.{key}: {hint}; remove or rename it.")

    def text(self, where: str, value: object, limit: int, required: bool = True) -> None:
        if value is None:
            if required:
                self.add("required-key", f"{where} is missing; it is required.")
            return
        if not isinstance(value, str) or not value.strip():
            self.add("type", f"{where} must be a non-empty string, got {value!r}.")
        elif len(value) > limit:
            self.add("length", f"{where} is {len(value)} characters ({value!r}); Codabench allows at "
                               f"most {limit}.")

    def non_negative_int(self, where: str, value: object) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            self.add("type", f"{where} must be a whole number >= 0, got {value!r}.")

    def boolean(self, where: str, value: object) -> None:
        if value is not None and not isinstance(value, bool):
            self.add("type", f"{where} must be true or false (unquoted), got {value!r}.")

    def resolve(self, where: str, value: object) -> Path | None:
        """The file a yaml path names, relative to the bundle root; None (and a problem) if unsafe."""
        if not isinstance(value, str) or not value.strip():
            self.add("type", f"{where} must be a path relative to competition.yaml, got {value!r}.")
            return None
        pure = PurePosixPath(value)
        if pure.is_absolute() or ".." in pure.parts or "\\" in value:
            self.add("path", f"{where}: {value!r} must be a relative path inside the bundle "
                             f"(Codabench joins it to the zip root).")
            return None
        return self.root / value

    def text_file(self, where: str, value: object) -> None:
        """Pages and terms: present, non-empty, UTF-8 (Codabench reads them with open().read())."""
        path = self.resolve(where, value)
        if path is None:
            return
        if not path.is_file():
            self.add("file-missing", f"{where}: {value} not found in the bundle (Codabench: \"Unable to "
                                     f"find page: {value}\"); add the file or fix the path.")
            return
        data = path.read_bytes()
        if not data:
            self.add("file-empty", f"{where}: {value} is empty; Codabench refuses empty pages.")
            return
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            self.add("file-encoding", f"{where}: {value} is not UTF-8 text; save it as UTF-8.")

    # -- datasets and programs ---------------------------------------------------------------
    def dataset(self, where: str, value: object, program: bool = False) -> None:
        """A task/solution/phase data path: a folder (zipped by Codabench), a zip, or a dataset key."""
        if isinstance(value, str) and not (self.root / value).exists() and _is_uuid(value):
            self.add("dataset-key", f"{where}: {value} is taken as the key of a dataset already on "
                                    f"Codabench; it cannot be checked here.", warning=True)
            return
        path = self.resolve(where, value)
        if path is None:
            return
        if not path.exists():
            self.add("file-missing", f"{where}: {value} not found (Codabench: \"Cannot find dataset: "
                                     f"{value}\"); build the bundle with `aiflash bundle` or fix the path.")
            return
        if path.is_dir():
            names = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
            if not names:
                self.add("file-empty", f"{where}: folder {value} is empty; Codabench would upload an "
                                       f"empty dataset.")
                return
            if program:
                self.program(where, value, {n: (path / n) for n in names})
            return
        if not zipfile.is_zipfile(path):
            self.add("dataset-zip", f"{where}: {value} is a file but not a zip; the worker unzips every "
                                    f"dataset (\"Bad or empty zip file\"); give a folder or a zip.")
            return
        try:  # metadata files are read from the zip below: a bomb is refused first
            check_zip(path, error=BundleError)
        except BundleError as exc:
            self.add("dataset-zip", f"{where}: {exc}")
            return
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if not names:
                self.add("file-empty", f"{where}: {value} is an empty zip.")
            elif program:
                self.program(where, value, {n: archive.read(n) for n in names
                                            if n.rsplit("/", 1)[-1] in METADATA_NAMES + ("metadata.yml",)})

    def program(self, where: str, value: str, files: dict[str, Path | bytes]) -> None:
        """A program needs metadata.yaml (or metadata) with a ``command`` at its root (§2.4)."""
        found = next((n for n in METADATA_NAMES if n in files), None)
        if found is None:
            nested = sorted(n for n in files if n.rsplit("/", 1)[-1] in METADATA_NAMES)
            if "metadata.yml" in files:
                fix = "rename metadata.yml to metadata.yaml (the worker never reads .yml)"
            elif nested:
                fix = f"put {nested[0].rsplit('/', 1)[-1]} at the root, not in {nested[0].rsplit('/', 1)[0]}/"
            else:
                fix = "add metadata.yaml with `command: python3 <script>.py`"
            self.add("program-metadata", f"{where}: {value} has no metadata.yaml/metadata at its root; "
                                         f"{fix}.")
            return
        source = files[found]
        raw = source if isinstance(source, bytes) else source.read_bytes()
        try:
            metadata = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            self.add("program-metadata", f"{where}: {value}/{found} is not valid YAML ({exc}).")
            return
        command = metadata.get("command") if isinstance(metadata, dict) else None
        if not isinstance(command, str) or not command.strip():
            self.add("program-metadata", f"{where}: {value}/{found} has no `command`; add e.g. "
                                         f"`command: python3 score.py`.")
            return
        self.command(where, f"{value}/{found}", command)
        if isinstance(source, Path):
            self.self_contained(where, value, source.parent)

    def command(self, where: str, name: str, command: str) -> None:
        """The worker runs the command split like a shell would, but with no shell (§2.5)."""
        for placeholder in LEGACY_PLACEHOLDERS:
            command = command.replace(placeholder, "")
        try:
            words = shlex.split(command)
        except ValueError as exc:
            self.add("program-command", f"{where}: {name}: the command cannot be split ({exc}).")
            return
        shell = [w for w in words if w in SHELL_OPERATORS or "$" in w or "*" in w or "?" in w]
        if shell:
            self.add("program-command", f"{where}: {name}: {shell[0]!r} needs a shell, but Codabench runs "
                                        f"the command without one; call a script, or `bash -c '...'`.")
        unmounted = [w for w in words if w.startswith(("/app/ingestion_program", "/app/scoring_program"))]
        if unmounted:
            self.add("program-command", f"{where}: {name}: {unmounted[0]} is never mounted; the running "
                                        f"program is at /app/program (the working directory).")

    def self_contained(self, where: str, value: str, folder: Path) -> None:
        """Programs run with only the image's packages: if one imports aiflash it must carry a copy."""
        uses = any(re.search(r"^\s*(from|import)\s+aiflash\b", p.read_text(errors="replace"), re.M)
                   for p in folder.glob("*.py"))
        if uses and not (folder / "aiflash" / "__init__.py").is_file():
            self.add("program-self-contained", f"{where}: {value} imports aiflash but has no aiflash/ "
                                               f"package beside it; build with `aiflash bundle`.")

    # -- sections ----------------------------------------------------------------------------
    def top_level(self, data: dict) -> None:
        version = str(data.get("version", "1"))
        if "version" not in data:
            self.add("version", "`version` is missing: Codabench then uses the legacy v1.5 unpacker; "
                                "add `version: 2`.")
        elif version != "2":
            self.add("version", f"version is {data['version']!r} (read as '{version}'); only `version: 2` "
                                f"selects the v2 unpacker (2.0 is rejected).")
        self.unknown_keys("<top>", data, TOP_KEYS)
        self.text("title", data.get("title"), 256)
        for key in ("reward",):
            self.text(key, data.get(key), 256, required=False)
        self.text("docker_image", data.get("docker_image"), 128, required=False)
        if data.get("docker_image", DOCKER_IMAGE) != DOCKER_IMAGE:
            self.add("docker-image", f"docker_image is {data.get('docker_image')!r} but the Dockerfile "
                                     f"builds {DOCKER_IMAGE}; use that name:tag.")
        elif "docker_image" not in data:
            self.add("docker-image", f"docker_image is missing: Codabench would run codalab/codalab-legacy:"
                                     f"py37; set it to {DOCKER_IMAGE}.")
        for key in BOOL_KEYS:
            self.boolean(key, data.get(key))
        if data.get("competition_type", "competition") not in ("competition", "benchmark"):
            self.add("type", f"competition_type must be competition or benchmark, got "
                             f"{data['competition_type']!r}.")
        email = data.get("contact_email")
        if email is not None and not (isinstance(email, str)
                                      and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email)):
            self.add("type", f"contact_email {email!r} is not a valid email address.")
        queue = data.get("queue")
        if queue is not None and not _is_uuid(str(queue)):
            self.add("queue", f"queue {queue!r} must be the queue's vhost (a UUID), not its name.")
        self.logo(data)
        if "terms" not in data:
            self.add("required-key", "terms is missing; Codabench requires a terms page "
                                     "(terms: pages/terms.md).")
        else:
            self.text_file("terms", data["terms"])
        self.fact_sheet(data.get("fact_sheet"))

    def logo(self, data: dict) -> None:
        if "image" not in data:
            self.add("required-key", "image is missing; Codabench requires a logo (image: logo.png).")
            return
        path = self.resolve("image", data["image"])
        if path is None:
            return
        if not path.is_file():
            self.add("file-missing", f"image: {data['image']} not found (Codabench: \"Unable to find "
                                     f"image\").")
            return
        kind = _image_kind(path.read_bytes()[:16])
        if kind is None or not str(data["image"]).lower().endswith(LOGO_SUFFIXES):
            self.add("logo-format", f"image: {data['image']} must be a PNG, JPEG, GIF or WebP file "
                                    f"(SVG and others are refused by Codabench's image field).")

    def fact_sheet(self, sheet: object) -> None:
        if not sheet:
            return
        if not isinstance(sheet, dict):
            self.add("fact-sheet", "fact_sheet must be a mapping of question key -> question.")
            return
        for key, question in sheet.items():
            if not isinstance(question, dict) or set(question) != FACT_SHEET_KEYS:
                got = set(question) if isinstance(question, dict) else question
                self.add("fact-sheet", f"fact_sheet.{key} must have exactly the keys "
                                       f"{sorted(FACT_SHEET_KEYS)}, got {got}.")
                continue
            if question["key"] != key:
                self.add("fact-sheet", f"fact_sheet.{key}.key is {question['key']!r}; it must equal {key!r}.")
            if question["type"] not in ("checkbox", "text", "select"):
                self.add("fact-sheet", f"fact_sheet.{key}.type {question['type']!r} must be checkbox, "
                                       f"text or select.")

    def pages(self, pages: object) -> None:
        if pages is None:
            self.add("required-key", "pages is missing (Codabench fails with \"'NoneType' object is not "
                                     "iterable\"); list pages, or write `pages: []`.")
            return
        if not isinstance(pages, list):
            self.add("type", "pages must be a list of {title, file}.")
            return
        for i, page in enumerate(pages):
            where = f"pages[{i}]"
            if not isinstance(page, dict) or "file" not in page:
                self.add("required-key", f"{where} needs a `file` (Codabench raises KeyError otherwise).")
                continue
            self.unknown_keys(where, page, PAGE_KEYS)
            self.text(f"{where}.title", page.get("title"), 256, required=False)
            self.text_file(f"{where}.file", page["file"])

    def tasks(self, tasks: object) -> dict:
        """Check the tasks; returns {index: task} for the phase and solution checks."""
        if not isinstance(tasks, list) or not tasks:
            self.add("required-key", "tasks is missing or empty (Codabench: \"No tasks listed in this "
                                     "competition\").")
            return {}
        by_index: dict = {}
        for i, task in enumerate(tasks):
            where = f"tasks[{i}]"
            if not isinstance(task, dict):
                self.add("type", f"{where} must be a mapping.")
                continue
            if "index" not in task:
                self.add("task-index", f"{where} has no index (Codabench: \"No index for task\").")
                continue
            if task["index"] in by_index:
                self.add("duplicate-index", f"{where}: task index {task['index']} is used twice "
                                            f"(Codabench: \"Duplicate task indexes\").")
                continue
            by_index[task["index"]] = task
            self.unknown_keys(where, task, TASK_KEYS)
            if "key" in task:
                self.add("task-key", f"{where} has `key`, so Codabench reuses that existing task and "
                                     f"ignores everything else in it.", warning=True)
                continue
            self.text(f"{where}.name", task.get("name"), 256)
            self.boolean(f"{where}.ingestion_only_during_scoring", task.get("ingestion_only_during_scoring"))
            if task.get("ingestion_only_during_scoring"):
                self.add("ingestion-during-scoring", f"{where}: ingestion_only_during_scoring mounts the "
                                                     f"ground truth into the container that runs "
                                                     f"participant code (§7 pitfall 9); remove it.")
            if "scoring_program" not in task:
                self.add("required-key", f"{where} has no scoring_program (Codabench: \"does not have a "
                                         f"scoring program\").")
            for key in TASK_DATA_KEYS:
                if key in task:
                    self.dataset(f"{where}.{key}", task[key], program=key.endswith("_program"))
            if "ingestion_program" in task and "input_data" not in task:
                self.add("task-data", f"{where} has an ingestion_program but no input_data; the model "
                                      f"would have nothing to process.")
        return by_index

    def solutions(self, solutions: object, tasks: dict) -> None:
        if not solutions:
            return
        if not isinstance(solutions, list):
            self.add("type", "solutions must be a list.")
            return
        seen = set()
        for i, solution in enumerate(solutions):
            where = f"solutions[{i}]"
            if not isinstance(solution, dict):
                self.add("type", f"{where} must be a mapping.")
                continue
            self.unknown_keys(where, solution, SOLUTION_KEYS)
            if "index" not in solution:
                self.add("solution", f"{where} has no index (Codabench: \"No index for solution\").")
            elif solution["index"] in seen:
                self.add("duplicate-index", f"{where}: solution index {solution['index']} is used twice.")
            else:
                seen.add(solution["index"])
            pointers = solution.get("tasks")
            if not isinstance(pointers, list) or not pointers:
                self.add("solution", f"{where} needs `tasks:` (a list of task indexes).")
            else:
                for index in pointers:
                    if index not in tasks:
                        self.add("solution", f"{where}.tasks: no task has index {index!r}.")
            if "key" not in solution:
                if "path" not in solution:
                    self.add("solution", f"{where} needs a `path` (or the `key` of an existing solution).")
                else:
                    self.dataset(f"{where}.path", solution["path"])

    def phases(self, phases: object, tasks: dict, has_queue: bool) -> None:
        if not isinstance(phases, list) or not phases:
            self.add("required-key", "phases is missing or empty (Codabench: \"Unable to find any phases\").")
            return
        if not all(isinstance(p, dict) for p in phases):
            self.add("type", "every item of phases must be a mapping.")
            return
        try:
            ordered = sorted(phases, key=lambda p: p.get("index", 0))  # Codabench's order (stable)
        except TypeError:
            self.add("type", "phase indexes must all be numbers (Codabench sorts phases by index).")
            return
        stored: list[tuple[str, object, object]] = []
        for number, phase in enumerate(ordered, start=1):
            where = f"phases[{phases.index(phase)}]"
            self.unknown_keys(where, phase, PHASE_KEYS)
            self.text(f"{where}.name", phase.get("name"), 256)
            name = phase.get("name") or where
            for key in PHASE_BOOL_KEYS:
                self.boolean(f"{where}.{key}", phase.get(key))
            for key in ("max_submissions", "max_submissions_per_day"):
                self.non_negative_int(f"{where}.{key}", phase.get(key))
            limit = phase.get("execution_time_limit")
            if limit is not None:
                if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
                    self.add("type", f"{where}.execution_time_limit must be a whole number of seconds > 0.")
                    limit = None
                elif limit > DEFAULT_QUEUE_TIME_CAP and not has_queue:
                    self.add("time-limit", f"{where}.execution_time_limit {limit} s is capped to "
                                           f"{DEFAULT_QUEUE_TIME_CAP} s on Codabench's default queue; set "
                                           f"`queue:` to a queue of your own to use it.", warning=True)
            limit = limit or MODEL_DEFAULT_TIME_LIMIT
            really = limit if has_queue else min(limit, DEFAULT_QUEUE_TIME_CAP)
            self.ingestion_budget(where, phase, tasks, really, has_queue)
            if phase.get("auto_migrate_to_this_phase") and number == 1:
                self.add("auto-migrate", f"{where}: auto_migrate_to_this_phase is not allowed on the first "
                                         f"phase (Codabench rejects it).")
            if "tasks" not in phase:
                self.add("phase-tasks", f"{where} has no tasks (Codabench: \"Phases must contain at least "
                                        f"one task\").")
            elif not isinstance(phase["tasks"], list) or not phase["tasks"]:
                self.add("phase-tasks", f"{where}.tasks must be a non-empty list of task indexes.")
            else:
                for index in phase["tasks"]:
                    if index not in tasks:
                        self.add("phase-tasks", f"{where}.tasks: no task has index {index!r} "
                                                f"(Codabench fails with a bare KeyError).")
            for key in ("public_data", "starting_kit"):
                if key in phase:
                    self.dataset(f"{where}.{key}", phase[key])
            for key in ("start", "end"):
                if phase.get(key) is not None:
                    problem = date_problem(phase[key])
                    if problem:
                        self.add("date", f"{where}.{key}: {problem}")
            if phase.get("start") is None:
                self.add("required-key", f"{where}.start is missing; every phase needs a start.")
            stored.append((name, phase.get("start"), phase.get("end")))
        self.phase_order(stored)

    def ingestion_budget(self, where: str, phase: dict, tasks: dict, limit: int, has_queue: bool) -> None:
        """Our ingestion program stops a slow model at its --time-budget and reports it. At the phase's
        limit Codabench's worker either fails the job and uploads nothing or, when its alarm fires
        while it streams container logs, loses the alarm and runs on (§2.7): not a limit to rely on."""
        indexes = phase.get("tasks") if isinstance(phase.get("tasks"), list) else []
        for index in indexes:
            program = (tasks.get(index) or {}).get("ingestion_program")
            if not isinstance(program, str) or not (self.root / program).is_dir():
                continue
            budget = ingestion_time_budget(self.root / program)
            if budget is not None and budget >= limit:
                really = "" if has_queue else " as capped on Codabench's default queue (no `queue:`)"
                self.add("ingestion-budget", f"{where}: the ingestion program's --time-budget ({budget:g} s) "
                                             f"is not below the phase's execution_time_limit ({limit} s"
                                             f"{really}); lower the budget in its metadata.yaml or raise "
                                             f"the limit (`aiflash bundle` sets it from the limit).")

    def phase_order(self, stored: list[tuple[str, object, object]]) -> None:
        """Codabench's _validate_phase_ordering, on the datetimes it would really store."""
        def when(value: object):
            try:
                return codabench_datetime(value)
            except (ValueError, TypeError, OverflowError):
                return None

        for (name, _, end), (next_name, next_start, _) in zip(stored, stored[1:], strict=False):
            if end is None:
                self.add("phase-order", f"phase {name!r} has no end but a phase follows it (Codabench: "
                                        f"\"must have an end time because it has a phase after it\").")
                continue
            this_end, following = when(end), when(next_start)
            if this_end is None or following is None:
                continue
            if following == this_end:
                self.add("phase-order", f"phase {next_name!r} starts exactly when {name!r} ends "
                                        f"({this_end:%Y-%m-%d %H:%M:%S}); start it strictly later.")
            elif following < this_end:
                self.add("phase-order", f"phases overlap: {next_name!r} starts {following:%Y-%m-%d %H:%M:%S} "
                                        f"before {name!r} ends {this_end:%Y-%m-%d %H:%M:%S} (Codabench: "
                                        f"\"Phases must be sequential\").")
        for name, start, end in stored:
            begin, finish = when(start), when(end)
            if begin and finish and finish <= begin:
                self.add("phase-order", f"phase {name!r} ends ({finish:%Y-%m-%d %H:%M:%S}) before it starts.")

    def leaderboards(self, data: dict, scorer_keys: tuple[str, ...]) -> None:
        boards = data.get("leaderboards")
        if boards is None:
            self.add("required-key", "leaderboards is missing (Codabench: \"Could not find leaderboards in "
                                     "the competition yaml\").")
            return
        if not isinstance(boards, list) or not boards or not isinstance(boards[0], dict):
            self.add("type", "leaderboards must be a non-empty list of leaderboards.")
            return
        if len(boards) > 1:
            self.add("leaderboard-count", f"{len(boards)} leaderboards: Codabench attaches only the first "
                                          f"to every phase; merge them into one.")
        board = boards[0]
        where = "leaderboards[0]"
        self.unknown_keys(where, board, LEADERBOARD_KEYS_READ)
        self.text(f"{where}.title", board.get("title"), 64)
        self.text(f"{where}.key", board.get("key"), 36)
        self.boolean(f"{where}.hidden", board.get("hidden"))
        if board.get("hidden"):
            self.add("leaderboard-hidden", f"{where} is hidden: participants see no leaderboard.",
                     warning=True)
        rule = board.get("submission_rule")
        if rule is None:
            self.add("submission-rule", f"{where}.submission_rule is missing: the default `Add` shows "
                                        f"nothing until each participant publishes by hand; set "
                                        f"Force_Last or Force_Best.")
        elif rule not in SUBMISSION_RULES:
            self.add("submission-rule", f"{where}.submission_rule {rule!r} must be one of "
                                        f"{', '.join(SUBMISSION_RULES)}.")
        columns = board.get("columns")
        if not isinstance(columns, list) or not columns:
            self.add("columns", f"{where}.columns is missing or empty (\"Leaderboards require at least 1 "
                                f"column\").")
            return
        self.columns(where, columns, board.get("primary_index", 0), scorer_keys)

    def columns(self, where: str, columns: list, primary_index: object, scorer_keys: tuple[str, ...]) -> None:
        keys: dict[object, int] = {}
        indexes: dict[object, int] = {}
        for i, column in enumerate(columns):
            at = f"{where}.columns[{i}]"
            if not isinstance(column, dict):
                self.add("type", f"{at} must be a mapping.")
                continue
            self.unknown_keys(at, column, COLUMN_KEYS)
            self.text(f"{at}.title", column.get("title"), 36)
            self.text(f"{at}.key", column.get("key"), 36)
            key, index = column.get("key"), column.get("index")
            if key in keys:
                self.add("duplicate-key", f"{at}: column key {key!r} is used twice (\"Columns must have "
                                          f"unique keys!\").")
            keys.setdefault(key, i)
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                self.add("column-index", f"{at}.index must be a whole number >= 0, got {index!r}.")
            elif index in indexes:
                self.add("duplicate-index", f"{at}: column index {index} is used twice (\"Columns must "
                                            f"have unique indexes!\").")
            else:
                indexes[index] = i
            if column.get("sorting", "desc") not in ("asc", "desc"):
                self.add("column-sorting", f"{at}.sorting must be asc (lower is better) or desc (higher "
                                           f"is better), got {column.get('sorting')!r}.")
            self.non_negative_int(f"{at}.precision", column.get("precision"))
            self.boolean(f"{at}.hidden", column.get("hidden"))
            computed = column.get("computation") is not None or column.get("computation_indexes") is not None
            if computed:
                self.computation(at, column)
                if key in scorer_keys:
                    self.add("computed-column", f"{at}: {key!r} is written by the scorer, so it must not be "
                                                f"a computed column (Codabench computes those itself).")
            elif isinstance(key, str) and key not in scorer_keys:
                self.add("column-key", f"{at}: key {key!r} is not written to scores.json by the scoring "
                                       f"program (keys: {', '.join(scorer_keys)}); the column would show "
                                       f"n/a. Column keys are case-sensitive.")
        if any(isinstance(c, dict) and c.get("hidden") for c in columns):
            self.add("hidden-column", f"{where}: a hidden column's score still appears in scoring_result.zip "
                                      f"and the scoring logs; set hide_score_output/hide_output on the "
                                      f"phases (§7 pitfall 9).", warning=True)
        if primary_index not in indexes:
            self.add("primary-column", f"{where}: no column has index {primary_index!r} (primary_index); "
                                       f"Codabench's leaderboard would break.")
        for i, column in enumerate(columns):
            refs = column.get("computation_indexes") if isinstance(column, dict) else None
            if isinstance(refs, list):
                for ref in refs:
                    if ref not in indexes:
                        self.add("computation", f"{where}.columns[{i}].computation_indexes: column index "
                                                f"{ref!r} does not exist.")
                    elif ref == column.get("index"):
                        self.add("computation", f"{where}.columns[{i}].computation_indexes references "
                                                f"itself.")

    def computation(self, at: str, column: dict) -> None:
        if column.get("computation") not in ("avg", "sum", "min", "max"):
            self.add("computation", f"{at}.computation must be avg, sum, min or max when "
                                    f"computation_indexes is set, got {column.get('computation')!r}.")
        refs = column.get("computation_indexes")
        if not isinstance(refs, list) or not refs:
            self.add("computation", f"{at}.computation_indexes must be a YAML list of column indexes, e.g. "
                                    f"[1, 2] (a string \"1,2\" is split character by character).")


def ingestion_time_budget(folder: Path) -> float | None:
    """The --time-budget our ingestion program runs with, read through its own option parser."""
    from ..commands import ingest

    command = next((_command(folder / n) for n in METADATA_NAMES if (folder / n).is_file()), None)
    argv = shlex.split(command) if command else []
    if len(argv) < 2 or Path(argv[1]).name != "ingestion.py":
        return None
    parser = argparse.ArgumentParser(add_help=False)
    ingest.add_arguments(parser, defaults=ingest.CODABENCH_DEFAULTS)
    try:
        return float(parser.parse_known_args(argv[2:])[0].time_budget)
    except SystemExit:
        return None


def _command(path: Path) -> str | None:
    try:
        metadata = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError:
        return None
    command = metadata.get("command") if isinstance(metadata, dict) else None
    return command if isinstance(command, str) else None


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _image_kind(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def load_yaml(root: Path) -> tuple[dict | None, list[Problem]]:
    """Parse ``root/competition.yaml`` exactly as Codabench does (yaml.safe_load)."""
    path = root / YAML_NAME
    if not path.is_file():
        other = [p.name for p in root.glob("competition.y*ml")] if root.is_dir() else []
        hint = (f" ({other[0]} is there: the name must be exactly {YAML_NAME})" if other else
                " (it must sit at the zip root, not in a folder)")
        return None, [Problem("zip-root", f"{path}: not found{hint}.")]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, [Problem("yaml-parse", f"{path}: not valid YAML ({exc}).")]
    if not isinstance(data, dict):
        return None, [Problem("yaml-parse", f"{path}: must be a mapping of keys, got {type(data).__name__}.")]
    return data, []


def validate_bundle(root: Path, scorer_keys: tuple[str, ...] = LEADERBOARD_KEYS) -> list[Problem]:
    """Every problem of the bundle rooted at ``root`` (a folder that holds competition.yaml)."""
    data, problems = load_yaml(root)
    if data is None:
        return problems
    checker = _Checker(root)
    checker.top_level(data)
    checker.pages(data.get("pages"))
    tasks = checker.tasks(data.get("tasks"))
    checker.solutions(data.get("solutions"), tasks)
    checker.phases(data.get("phases"), tasks, has_queue=data.get("queue") is not None)
    checker.leaderboards(data, scorer_keys)
    return checker.problems


def validate_zip(bundle: Path, workdir: Path) -> list[Problem]:
    """Unpack a bundle zip as Codabench does (extractall; competition.yaml at the root) and validate it."""
    try:
        safe_extract(bundle, workdir, error=BundleError)
    except BundleError as exc:
        return [Problem("zip", f"{exc} (Codabench: \"Bad zip file uploaded.\").")]
    return validate_bundle(workdir)
