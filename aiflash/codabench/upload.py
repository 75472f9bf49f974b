"""``aiflash codabench upload``: check a bundle zip with the builder's own rules, refuse a code phase
left on the default queue (600 s per job, no GPU) unless told, then create the competition as the
site's upload page does: dataset record, PUT to its presigned URL, ``completed``, poll the status."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..bundle.competition import effective_time_limit, is_code_phase, ordered_phases
from ..bundle.validate import DEFAULT_QUEUE_TIME_CAP, errors, load_yaml, validate_zip
from ..errors import CodabenchError
from .client import CodabenchClient

CREATION_DONE = ("Finished", "Failed")


def check_bundle(bundle: Path, allow_default_queue: bool, report: Callable[[str], None]) -> dict:
    """The parsed competition.yaml of a bundle that passes every rule ``aiflash bundle`` checks."""
    if not bundle.is_file():
        raise CodabenchError(f"{bundle}: file not found; build it with `make bundle`.")
    with tempfile.TemporaryDirectory(prefix="aiflash-upload.") as scratch:
        problems = validate_zip(bundle, Path(scratch))
        for problem in problems:
            report(str(problem))
        if errors(problems):
            raise CodabenchError(f"{bundle}: {len(errors(problems))} Codabench rule(s) broken (listed "
                                 f"above); fix them, rebuild and upload again.")
        competition, _ = load_yaml(Path(scratch))
    assert competition is not None  # validate_zip reported it otherwise
    if not competition.get("queue") and not allow_default_queue:
        for number, phase in enumerate(ordered_phases(competition), start=1):
            if is_code_phase(competition, phase):
                asked = phase.get("execution_time_limit")
                raise CodabenchError(
                    f"{bundle}: phase {number} ({phase.get('name')}) runs code submissions but "
                    f"competition.yaml sets no `queue:`, so Codabench's default queue runs it: "
                    f"{effective_time_limit(competition, phase)} s per job (the phase asks {asked} s; the "
                    f"cap is {DEFAULT_QUEUE_TIME_CAP} s) and no GPU. Set `queue: <vhost UUID of your GPU "
                    f"queue>` in competition.yaml and rebuild (make bundle), or pass "
                    f"--allow-default-queue to upload it as it is.")
    return competition


def upload(client: CodabenchClient, bundle: Path, poll_s: float = 3.0, timeout_s: float = 1800.0,
           progress: Callable[[str], None] = print) -> int:
    """Create the competition; its id. Codabench's ``Failed`` details become the error line."""
    name = f"{bundle.stem}-{int(time.time())}"
    dataset = client.post("/api/datasets/", "the bundle's dataset record", {
        "name": name, "type": "competition_bundle", "request_sassy_file_name": f"{name}.zip",
        "file_name": f"{name}.zip", "file_size": bundle.stat().st_size})
    if not isinstance(dataset, dict) or not dataset.get("key") or not dataset.get("sassy_url"):
        raise client.error(f"POST /api/datasets/: expected a key and an upload URL, got {dataset}.")
    size = bundle.stat().st_size / 1e6
    progress(f"uploading {bundle.name} ({size:.1f} MB) ...")
    client.upload(str(dataset["sassy_url"]), bundle, f"upload of {bundle.name}")
    completed = client.put(f"/api/datasets/completed/{dataset['key']}/", "the finished upload")
    status_id = completed.get("status_id") if isinstance(completed, dict) else None
    if status_id is None:
        raise client.error(f"PUT /api/datasets/completed/: the site started no unpacking ({completed}).")
    started = time.monotonic()
    while True:
        status = client.get(f"/api/competitions/{status_id}/creation_status/", "the unpacking status")
        state = status.get("status") if isinstance(status, dict) else None
        progress(f"  unpacking on {client.site}: {state} ({time.monotonic() - started:.0f} s)")
        if state == "Finished":
            return int(status["resulting_competition"])
        if state == "Failed":
            raise client.error(f"{bundle}: Codabench could not create the competition: "
                               f"{status.get('details') or 'no details given'}")
        if time.monotonic() - started > timeout_s:
            raise client.error(f"{bundle}: still {state} after {timeout_s:g} s; look at the site's "
                               f"upload page (status id {status_id}).")
        time.sleep(poll_s)
