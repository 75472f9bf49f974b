"""``aiflash dry-run``: what a participant needs to know before uploading a submission.

It runs the same worker simulation as ``codabench-run`` (the repository's programs, staged with the
package exactly as the bundle ships them), on data the participant has (the bundled sample, the
Phase 1 development split, or inputs without ground truth), plus checks that need no ground truth:
the zip's layout, its image stems and sizes against the phase's manifest (``starting_kit/manifests``),
and, for code, the runtime extrapolated to the phase's image count and time limit.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..archives import safe_extract
from ..discovery import find_predictions, submission_root
from ..errors import AiflashError, BundleError, SubmissionError
from ..images import is_image_name, read_rgb
from ..ingestion.record import read_ingestion
from ..report import PER_IMAGE_FILE
from .build import SAMPLE_DATA, stage_program
from .competition import effective_time_limit, is_code_phase, phase, phase_task
from .data import INPUTS, REFERENCE, PhaseData, image_table, pack, scan
from .simulate import PhaseSetup, report_lines
from .validate import METADATA_NAMES, load_yaml
from .worker import BAD_ZIP, METADATA_NOT_FOUND, SubmissionResult, TaskFiles, run_submission

MODEL_FILE = "model.py"
MANIFEST_HINT = "give the starting kit's manifests/phaseN.json"
WARN_FRACTION = 0.8  # of the time limit: above it, a code submission risks the limit on Codabench


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)  # Codabench would fail or mis-score it
    notes: list[str] = field(default_factory=list)  # worth knowing, harmless
    warnings: list[str] = field(default_factory=list)  # accepted, but costly (not a problem)


def load_manifest(path: Path | None, data: PhaseData, code: bool) -> dict:
    """The phase's public manifest, or one describing ``data`` when none is given."""
    if path is None:
        return {"source": str(data.source), "count": len(data.images), "images": image_table(data),
                "submission": "code" if code else "results"}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AiflashError(f"{path}: not a readable manifest ({exc}); {MANIFEST_HINT}.") from exc
    if not isinstance(manifest, dict) or "count" not in manifest:
        raise AiflashError(f"{path}: not a phase manifest (no 'count'); {MANIFEST_HINT}.")
    return manifest


def _zip_names(submission: Path) -> list[str]:
    try:
        with zipfile.ZipFile(submission) as archive:
            return [n for n in archive.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise AiflashError(f"{submission}: not a valid zip ({exc}); Codabench only accepts .zip uploads.") \
            from exc


def _zip_sizes(submission: Path) -> dict[str, int]:
    with zipfile.ZipFile(submission) as archive:
        return {info.filename: info.file_size for info in archive.infolist() if not info.is_dir()}


def _has_command(submission: Path, name: str) -> bool:
    with zipfile.ZipFile(submission) as archive:
        try:
            metadata = yaml.safe_load(archive.read(name))
        except yaml.YAMLError:
            return False
    return isinstance(metadata, dict) and bool(metadata.get("command"))


def check_layout(submission: Path, code: bool, findings: Findings) -> None:
    """What Codabench does with the zip's root: a metadata file changes everything (§3)."""
    names = _zip_names(submission)
    visible = [n for n in names
               if not n.startswith("__MACOSX/") and not n.rsplit("/", 1)[-1].startswith("._")]
    if len(visible) < len(names):
        findings.notes.append("macOS entries (__MACOSX/, ._*) in the zip are ignored by the scorer.")
    root_metadata = next((n for n in visible if n in METADATA_NAMES), None)
    models = [n for n in visible if n.rsplit("/", 1)[-1] == MODEL_FILE]
    if not code:
        if models:
            findings.problems.append(f"this phase takes result images, but the zip holds {models[0]}: "
                                     f"upload a zip of <stem>.png files (code is for the final phase).")
        if root_metadata:
            findings.problems.append(f"remove {root_metadata} from the zip root: with it Codabench copies "
                                     f"none of your results for scoring and the submission fails "
                                     f"(\"{METADATA_NOT_FOUND}\", then \"{BAD_ZIP}\").")
        return
    if not models:
        findings.problems.append(f"no {MODEL_FILE} in the zip: this phase takes code ({MODEL_FILE} at the "
                                 f"zip root; see the starting kit's sample submissions).")
    elif MODEL_FILE not in visible:
        findings.notes.append(f"{models[0]}: {MODEL_FILE} is inside a folder; the zip root is preferred (zip "
                              f"the folder's contents, not the folder).")
    if root_metadata and _has_command(submission, root_metadata):
        findings.problems.append(f"{root_metadata} has a `command:`: Codabench would run your zip as its own "
                                 f"program beside the ingestion program; remove the command.")
    elif not root_metadata:
        size = sum(_zip_sizes(submission).values()) / 2**20
        images = "; its images would count as extra results" if any(is_image_name(n) for n in visible) else ""
        findings.warnings.append(f"no metadata file at the zip root: Codabench copies your whole zip "
                                 f"({size:.1f} MB, weights included) into every prediction output{images}; "
                                 f"add a file named metadata holding `description: <your model>` and no "
                                 f"command.")


def check_results(submission: Path, manifest: dict, scratch: Path, findings: Findings) -> None:
    """Result stems and sizes against the manifest, decoding every image as the scorer does."""
    safe_extract(submission, scratch, error=SubmissionError,
                 must_hold="one <stem>.png per input image, at the zip root")
    root = submission_root(scratch)
    if root != scratch:
        findings.notes.append(f"results are inside {root.relative_to(scratch).as_posix()}/: accepted (the "
                              f"scorer descends into a single folder), but the zip root is preferred.")
    found = find_predictions(scratch)
    expected = {i["stem"]: (i["width"], i["height"]) for i in manifest.get("images", [])}
    if not expected:
        findings.notes.append("the manifest lists no stems (hidden phase): only the image files were "
                              "checked.")
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected)) if expected else []
    dups = sorted(s for s, paths in found.items() if len(paths) > 1)
    if missing:
        findings.problems.append(f"{len(missing)} image(s) missing: {', '.join(missing[:8])}"
                                 f"{', ...' if len(missing) > 8 else ''} (one <stem>.png per input)")
    if extra:
        findings.problems.append(f"{len(extra)} unexpected image(s): {', '.join(extra[:8])}")
    if dups:
        findings.problems.append(f"same stem twice: {', '.join(dups[:8])}")
    for stem, paths in sorted(found.items()):
        try:
            array, note = read_rgb(paths[0])
        except AiflashError as exc:
            findings.problems.append(str(exc))
            continue
        if note:
            findings.notes.append(f"{paths[0].name}: {note}")
        if stem in expected and (array.shape[1], array.shape[0]) != expected[stem]:
            width, height = expected[stem]
            findings.problems.append(f"{paths[0].name}: {array.shape[1]}x{array.shape[0]} but its input is "
                                     f"{width}x{height}; keep the input's exact size (no rescaling)")
        if paths[0].suffix.lower() in (".jpg", ".jpeg"):
            findings.notes.append(f"{paths[0].name}: JPEG loses detail the metrics see; PNG is recommended.")


def ingestion_timing(result: SubmissionResult) -> tuple[float, float, int, float | None, int] | None:
    """(model load s, s per image, images measured, the ingestion's time budget, the resolution
    probe's extra model calls) from ingestion.json."""
    summary = read_ingestion(result.prediction.root / "output")
    if summary is None:
        return None
    record = summary.record
    done = [e for e in record.get("images", []) if e.get("status") == "ok"]
    walls = [e["wall_s"] for e in done if isinstance(e.get("wall_s"), (int, float))]
    if walls:
        per_image = sum(walls) / len(walls)
    elif isinstance(record.get("folder_model_s"), (int, float)) and done:  # the folder API
        per_image = record["folder_model_s"] / len(done)
    else:
        return None
    loads = record.get("load_s") or [0.0]
    budget = (record.get("limits") or {}).get("time_budget_s")
    probe_calls = int((record.get("probe") or {}).get("extra_calls") or 0)
    return float(loads[0]), per_image, len(done), budget, probe_calls


def rescale_summary(result: SubmissionResult) -> str | None:
    """The no-rescale guard's verdicts: from ingestion.json (code), else the scorer's content check
    (results screened against the inputs beside gt/). None when neither ran."""
    from ..forensics import VERDICTS

    summary = read_ingestion(result.prediction.root / "output")
    if summary is not None and isinstance(summary.record.get("rescale_verdicts"), dict):
        counts = {v: int(summary.record["rescale_verdicts"].get(v, 0)) for v in VERDICTS}
    elif result.detailed_results is not None and (result.detailed_results.parent / PER_IMAGE_FILE).is_file():
        import pandas as pd

        rows = pd.read_csv(result.detailed_results.parent / PER_IMAGE_FILE)
        if "rescale_verdict" not in rows.columns:
            return None
        counts = {v: int((rows["rescale_verdict"] == v).sum()) for v in VERDICTS}
    else:
        return None
    line = "Rescaling check: " + ", ".join(f"{counts[v]} {v}" for v in VERDICTS)
    if counts["flagged"] or counts["rejected"]:
        line += (" - flagged and rejected images go to the organisers' review; see the verdicts and "
                 "what was measured in detailed_results.html")
    return line


def check_runtime(result: SubmissionResult, count: int, limit: int, findings: Findings) -> str | None:
    """Extrapolate the measured time per image to the phase's image count; compare with the limits."""
    timing = ingestion_timing(result)
    if timing is None:
        return None
    load, per_image, measured, budget, probe_calls = timing
    # the probe makes as many extra calls on the phase's data as here (a fixed count of images)
    estimate = load + per_image * (count + probe_calls)
    binding = min(limit, budget) if budget else limit
    which = "the ingestion's time budget" if budget and budget < limit else "the phase's time limit"
    probe = f" and the resolution probe's {probe_calls} extra calls" if probe_calls else ""
    line = (f"runtime: {per_image:.2f} s per image + {load:.1f} s to load (measured on {measured} image(s) "
            f"here) -> about {estimate:.0f} s for the phase's {count} images{probe}; {which} is "
            f"{binding:.0f} s")
    if estimate > binding:
        findings.problems.append(line + " (over it: images past the budget would fail, or the job could "
                                        "fail with no output at the phase's limit; a faster device than "
                                        "this one may fit)")
    elif estimate > WARN_FRACTION * binding:
        findings.notes.append(line + " (close to it)")
    return line


def dry_run(submission: Path, number: int, repo: Path, workdir: Path, data_dir: Path | None = None,
            manifest_path: Path | None = None) -> tuple[list[str], bool]:
    """The human report and whether the submission would be accepted and scored."""
    competition, _ = load_yaml(repo)
    if competition is None or not (repo / "scoring_program").is_dir():
        raise BundleError(f"{repo}: no competition.yaml/scoring_program here; run aiflash dry-run from a "
                          f"clone of the challenge repository (or pass --repo).")
    chosen = phase(competition, number)
    code = is_code_phase(competition, chosen)
    data = scan(data_dir or repo / SAMPLE_DATA, require_gt=False)
    manifest = load_manifest(manifest_path, data, code)
    findings = Findings()
    check_layout(submission, code, findings)
    if not code:
        check_results(submission, manifest, workdir / "check", findings)

    programs = workdir / "programs"
    task_spec = phase_task(competition, chosen)
    for key in ("scoring_program", "ingestion_program"):  # staged as the bundle ships them
        if key in task_spec:
            stage_program(repo, str(task_spec[key]).rstrip("/"), programs / key)
    kinds = ((INPUTS,) if code else ()) + ((REFERENCE,) if data.has_gt else ())
    if kinds:  # a result phase's reference data carries its public inputs, as the bundle's does
        pack(data, workdir / "data", kinds, inputs_in_reference=not code)
    task = TaskFiles(
        name=str(task_spec.get("name")),
        scoring_program=programs / "scoring_program",
        ingestion_program=programs / "ingestion_program" if code else None,
        input_data=workdir / "data" / INPUTS if code else None,
        reference_data=workdir / "data" / REFERENCE if data.has_gt else None,
    )
    limit = effective_time_limit(competition, chosen)
    setup = PhaseSetup(number, str(chosen.get("name")), code, limit, task,
                       (competition.get("leaderboards") or [{}])[0],
                       bool(competition.get("enable_detailed_results")))
    # A result zip that fails the checks is not worth scoring, except to show what a metadata file at
    # its root does on Codabench.
    runnable = code or all(p.startswith("remove metadata") for p in findings.problems)
    result = run_submission(task, submission, workdir / "run", limit, score=data.has_gt) if runnable else None
    runtime = check_runtime(result, int(manifest["count"]), limit, findings) if code and result else None

    lines = [f"Dry run of {submission.name} for Phase {number} ({'code' if code else 'results'}) on "
             f"{len(data.images)} image(s) from {data.source}"
             + ("" if data.has_gt else " (no gt/: checks and model run only, no Score)") + "."]
    if result is not None:
        lines += report_lines(setup, result)
        if result.status == "Failed":
            findings.problems.append(f"Codabench would mark it Failed: {result.reason}")
        elif data.has_gt and result.scores is None:
            findings.problems.append(f"Codabench would show no scores: {result.scores_note}")
        ingestion = next((r for r in result.prediction.runs if r.kind == "ingestion"), None)
        if result.scoring is None and ingestion is not None and ingestion.returncode:
            findings.problems.append(f"the model run failed (scoring would then fail): "
                                     f"{ingestion.last_error_line()}")
    if runtime:
        lines.append(runtime)
    rescale = rescale_summary(result) if result is not None else None
    if rescale:
        lines.append(rescale)
    lines += [f"note: {n}" for n in findings.notes]
    lines += [f"warning: {w}" for w in findings.warnings]
    lines += [f"PROBLEM: {p}" for p in findings.problems]
    ok = not findings.problems
    verdict = "ready to upload" if ok else f"{len(findings.problems)} problem(s) to fix before uploading"
    lines.append(f"Verdict: {verdict}.")
    return lines, ok
