"""A Codabench site on 127.0.0.1 for the client's tests: a real HTTP server (http.server, one thread
per request) that answers as the recorded exchanges in fixtures/codabench_api/ do, built from those
responses; storage (presigned URLs) is served by the same server under /private/ and must be used
without an Authorization header. Zips are made from the sample data where the recordings describe
zips. Faults (5xx, timeout, truncated body, dropped connection, 403) can be planted per path.
No tests here."""

from __future__ import annotations

import copy
import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from aiflash.formula import compute_score
from aiflash.profile import SCORED_METRICS, load_profile
from aiflash.report import leaderboard_scores

from .conftest import FIXTURES, REPO, SAMPLE

RECORDED = FIXTURES / "codabench_api"
PROFILE = load_profile()


def recorded(name: str) -> dict:
    return json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data)
    return buffer.getvalue()


def scoring_zip(per_image: pd.DataFrame) -> tuple[bytes, dict[str, float]]:
    """The recorded scoring_result layout: metadata, per_image_scores.csv, scores.json,
    detailed_results.html (the worker's metadata and a short page), for planted per-image scores."""
    means = {k: float(per_image[k].mean()) for k in SCORED_METRICS}
    scores = leaderboard_scores(compute_score(means, PROFILE), {})
    return _zip({
        "metadata": b"exitCode: 0\nelapsedTime: 12.5\n",
        "per_image_scores.csv": per_image.to_csv(index=False, float_format="%.6f").encode(),
        "scores.json": json.dumps(scores, indent=2).encode(),
        "detailed_results.html": b"<!DOCTYPE html><html><title>detailed results</title></html>",
    }), scores


def prediction_zip(code: bool) -> bytes:
    """metadata + the four sample result PNGs (+ ingestion.json for a code submission)."""
    members = {"metadata": b"exitCode: 0\nelapsedTime: 30.1\n"}
    members.update({p.name: p.read_bytes() for p in sorted((SAMPLE / "results").glob("*.png"))})
    if code:
        members["ingestion.json"] = json.dumps({"format": "aiflash-ingestion/1", "images_ok": 4}).encode()
    return _zip(members)


def code_zip() -> bytes:
    """The recorded code submission: model.py (the flash baseline) + metadata without command."""
    model = (REPO / "sample_submissions" / "flash_baseline" / "model.py").read_bytes()
    return _zip({"model.py": model, "metadata": b"description: flash baseline\n"})


@dataclass
class Team:
    name: str
    per_image: pd.DataFrame
    running: bool = False  # a newer submission still running (no outputs)
    failed: bool = False  # a newer submission that failed


@dataclass
class Site:
    token: str
    phase: int = 2  # the phase number the teams submitted to (2: results, 3: code)
    teams: list[Team] = field(default_factory=list)
    creation: list[dict] = field(default_factory=list)  # creation_status answers, in turn
    requests: list[dict] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=dict)  # path -> faults, one per request
    slow_s: float = 3.0
    users: dict[str, str] = field(default_factory=dict)  # username -> password

    def __post_init__(self):
        self.lock = threading.Lock()
        self.storage: dict[str, bytes] = {}
        self.submissions: dict[int, dict] = {}
        self.details: dict[int, dict] = {}
        self.uploaded: dict[str, bytes] = {}
        competition = recorded("competition_detail")["response"]
        self.competition = competition
        self.phase_record = sorted(competition["phases"], key=lambda p: p["index"])[self.phase - 1]
        template = recorded("submissions_list_by_phase" if self.phase == 2 else
                            "submissions_list_by_phase_after_reruns")["response"][0]
        running = recorded("submissions_list_by_phase_while_running")["response"][0]
        next_id = 1
        for team in self.teams:
            data, scores = scoring_zip(team.per_image)
            record = copy.deepcopy(template)
            record.update(id=next_id, pk=next_id, owner=team.name, on_leaderboard=True, leaderboard=1,
                          phase=self.phase_record["id"])
            record["scores"] = [{"id": 100 * next_id + i, "index": i, "score": f"{scores[key]:.10f}",
                                 "column_key": key} for i, key in enumerate(scores)]
            self._store(next_id, data, code=self.phase == 3)
            self.submissions[next_id] = record
            next_id += 1
            if team.running or team.failed:
                extra = copy.deepcopy(running)
                extra.update(id=next_id, pk=next_id, owner=team.name, phase=self.phase_record["id"])
                if team.failed:
                    extra.update(status="Failed", status_details="Execution Time Limit exceeded")
                self.submissions[next_id] = extra
                next_id += 1

    def _store(self, sid: int, scoring: bytes, code: bool) -> None:
        details = copy.deepcopy(recorded("submission_get_details_phase3_code" if code else
                                         "submission_get_details_phase2_results")["response"])
        urls = {"scoring_result": f"/private/scoring_result/{sid}/scoring_result.zip",
                "prediction_result": f"/private/prediction_result/{sid}/prediction_result.zip",
                "data_file": f"/private/dataset/{sid}/submission.zip",
                "detailed_result": f"/private/detailed_result/{sid}/detailed_results.html"}
        self.storage[urls["scoring_result"]] = scoring
        self.storage[urls["prediction_result"]] = prediction_zip(code)
        self.storage[urls["data_file"]] = code_zip() if code else prediction_zip(False)
        self.storage[urls["detailed_result"]] = b"<!DOCTYPE html><html></html>"
        details.update({k: "{base}" + v + "?X-Amz-Signature=abc123" for k, v in urls.items()})
        self.details[sid] = details

    # -- what the tests look at -------------------------------------------------------------------
    def storage_gets(self) -> list[str]:
        return [r["path"] for r in self.requests
                if r["method"] == "GET" and r["path"].startswith("/private/")]

    def storage_with_auth(self) -> list[str]:
        return [r["path"] for r in self.requests if r["path"].startswith("/private/") and r["auth"]]

    def plant(self, path: str, *faults: str) -> None:
        self.faults[path] = list(faults)


def _handler(site: Site, base: list[str]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body: object, content_type: str = "application/json",
                  declared: int | None = None) -> None:
            data = body if isinstance(body, bytes) else (
                json.dumps(body).replace("{base}", base[0]).replace("http://<STORAGE_HOST>", base[0])
                .encode() if content_type == "application/json" else str(body).encode())
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(declared if declared is not None else len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _fault(self, path: str) -> bool:
            with site.lock:
                queue = site.faults.get(path)
                fault = queue.pop(0) if queue else None
            if fault is None:
                return False
            if fault == "500":  # and the Authorization header echoed back, as a broken proxy might
                self._send(500, {"detail": f"upstream failed for {self.headers.get('Authorization')}"})
            elif fault == "403":
                self._send(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
                                b"</Error>", "application/xml")
            elif fault == "timeout":
                time.sleep(site.slow_s)
                self._send(200, b"too late", "application/zip")
            elif fault == "truncate":
                data = site.storage.get(path, b"x" * 1000)
                self._send(200, data[: len(data) // 2], "application/zip", declared=len(data))
            elif fault == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
            return True

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with site.lock:
                site.requests.append({"method": method, "path": path, "query": query,
                                      "auth": self.headers.get("Authorization")})
            if self._fault(path):
                return
            if path.startswith("/private/"):
                return self._storage(method, path, body)
            if path == "/api/api-token-auth/":
                sent = json.loads(body or b"{}")
                if site.users.get(sent.get("username")) == sent.get("password"):
                    return self._send(200, {"token": site.token})
                return self._send(400, recorded("error_token_bad_password")["response"])
            if self.headers.get("Authorization") != f"Token {site.token}":
                return self._send(403, recorded("error_bad_token")["response"])
            self._api(method, path, query, body)

        def _storage(self, method: str, path: str, body: bytes) -> None:
            if method == "PUT":
                site.uploaded[path] = body
                return self._send(200, b"", "text/html; charset=utf-8")
            if path not in site.storage:
                return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            self._send(200, site.storage[path], "application/zip")

        def _api(self, method: str, path: str, query: dict, body: bytes) -> None:
            pid = site.phase_record["id"]
            if method == "GET" and path == f"/api/competitions/{site.competition['id']}/":
                return self._send(200, site.competition)
            if method == "GET" and path == "/api/submissions/":
                rows = [s for s in site.submissions.values() if str(s["phase"]) == query.get("phase")]
                return self._send(200, sorted(rows, key=lambda s: -s["id"]))
            for sid, record in list(site.submissions.items()):
                if path == f"/api/submissions/{sid}/get_details/" and method == "GET":
                    return self._send(200, site.details[sid]) if sid in site.details else \
                        self._send(200, {"data_file": None, "scoring_result": None})
                if path == f"/api/submissions/{sid}/" and method == "GET":
                    return self._send(200, self._advance(record))
                if path == f"/api/submissions/{sid}/re_run_submission/" and method == "POST":
                    return self._send(200, {"id": self._rerun(record)})
            if method == "GET" and path == f"/api/phases/{pid}/rerun_submissions/":
                parents = [r for r in list(site.submissions.values()) if not r.get("parent")]
                for record in parents:
                    self._rerun(record)
                return self._send(200, {"count": len(parents)})
            if method == "POST" and path == "/api/datasets/":
                sent = json.loads(body)
                answer = recorded("bundle_upload_datasets_create")["response"]
                answer["sassy_url"] = f"{{base}}/private/dataset/upload/{sent['file_name']}?X-Amz-Signature=s"
                site.created = sent
                return self._send(201, answer)
            if method == "PUT" and path.startswith("/api/datasets/completed/"):
                return self._send(200, recorded("bundle_upload_datasets_completed")["response"])
            if method == "GET" and path == "/api/competitions/1/creation_status/":
                with site.lock:
                    answer = site.creation.pop(0) if len(site.creation) > 1 else site.creation[0]
                return self._send(200, answer)
            self._send(404, {"detail": "Not found."})

        def _rerun(self, record: dict) -> int:
            with site.lock:
                new = max(site.submissions) + 1
                copy_ = copy.deepcopy(record)
                copy_.update(id=new, pk=new, status="Submitting", scores=[], on_leaderboard=False,
                             polls=0, final=copy.deepcopy(record))
                site.submissions[new] = copy_
            return new

        def _advance(self, record: dict) -> dict:
            """A re-run is Running on its first poll and Finished (with the parent's scores) after."""
            if "final" in record:
                record["polls"] += 1
                if record["polls"] >= 2:
                    final = record.pop("final")
                    record.update(status="Finished", scores=final["scores"])
                else:
                    record["status"] = "Running"
            return {k: v for k, v in record.items() if k not in ("final", "polls")}

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

        def do_PUT(self):  # noqa: N802
            self._handle("PUT")

    return Handler


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a planted drop is no server error
        pass


class Server:
    """``with Server(site) as url:`` serves the site on 127.0.0.1 on a free port."""

    def __init__(self, site: Site):
        self.site = site
        self.base: list[str] = [""]
        self.httpd = _Quiet(("127.0.0.1", 0), _handler(site, self.base))
        self.base[0] = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> str:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self.base[0]

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
