"""HTTP to one Codabench site with ``requests``: JSON endpoints with the token, presigned storage
URLs without it (they carry their own signature), retries with backoff on 5xx answers, timeouts and
broken connections, streamed downloads that are written whole or not at all.

Every failure becomes one ``CodabenchError`` line naming what was asked, with the token, the
password and presigned query strings removed (``Redactor``), including what ``requests`` and the
server echo back. The site's own conventions (recorded from a real site, see
``tests/fixtures/codabench_api/README.md``): a bad token is a 403 ``{"detail": "Invalid token."}``,
never a 401; another user's submission is a 404.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from ..atomic import atomic_open
from ..errors import CodabenchError
from .credentials import Credentials, Redactor

TERMINAL = ("Finished", "Failed", "Cancelled")  # submission states that do not change again
_BAD_TOKEN = "Invalid token."
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Retry:
    tries: int = 5  # attempts in all, for what may be repeated (GET, PUT)
    backoff_s: float = 1.0  # wait before the 2nd try; doubled before each next one
    timeout_s: float = 60.0  # connect and read timeout of one request


class _Transient(Exception):
    """Worth another try: a 5xx answer, a timeout, a broken or truncated transfer."""


class CodabenchClient:
    def __init__(self, credentials: Credentials, retry: Retry = Retry(), log: Callable[[str], None] = print):
        self.site = credentials.url.rstrip("/")
        self.retry = retry
        self.redact = Redactor(credentials.secrets())
        self._log = log
        self._local = threading.local()
        self._token = credentials.token or self._login(credentials)
        self.redact.add(self._token)

    # -- plumbing -----------------------------------------------------------------------------------
    def _session(self, storage: bool) -> requests.Session:
        name = "storage" if storage else "api"
        session = getattr(self._local, name, None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxy or .netrc credentials slipping in
            if not storage:
                session.headers["Authorization"] = f"Token {self._token}"
            setattr(self._local, name, session)
        return session

    def log(self, line: str) -> None:
        self._log(self.redact(line))

    def error(self, message: str) -> CodabenchError:
        return CodabenchError(self.redact(" ".join(str(message).split())))

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.site + path

    def _login(self, credentials: Credentials) -> str:
        self.redact.add(credentials.password or "")
        answer = self._send("POST", "/api/api-token-auth/", "the token of " + str(credentials.username),
                            json={"username": credentials.username, "password": credentials.password},
                            auth=False)
        token = answer.get("token") if isinstance(answer, dict) else None
        if not token:
            raise self.error(f"{self.site}: the login answered no token.")
        return str(token)

    def _detail(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:300]
        if isinstance(body, dict):
            for key in ("detail", "error", "non_field_errors"):
                if key in body:
                    value = body[key]
                    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)
        return str(body)[:300]

    def _refusal(self, response: requests.Response, method: str, what: str) -> CodabenchError:
        status, detail = response.status_code, self._detail(response)
        if status == 403 and detail == _BAD_TOKEN:
            return self.error(f"{self.site} refused the token (403 {detail}): set CODABENCH_TOKEN to a "
                              f"valid token of an organiser (or CODABENCH_USERNAME/CODABENCH_PASSWORD).")
        if status == 403:
            return self.error(f"{method} {what}: not allowed (403 {detail}); use the credentials of an "
                              f"organiser of the competition.")
        if status == 404:
            return self.error(f"{method} {what}: not found on {self.site} (404 {detail}); check the id "
                              f"(Codabench also answers 404 for a submission you may not see).")
        if status == 400 and "Unable to log in" in detail:
            return self.error(f"{self.site} refused the username/password ({detail}): check "
                              f"CODABENCH_USERNAME and CODABENCH_PASSWORD.")
        return self.error(f"{method} {what}: {self.site} answered {status} ({detail}).")

    def _attempts(self, method: str):
        return range(self.retry.tries if method in ("GET", "PUT", "HEAD") else 1)

    def _wait(self, attempt: int, what: str, why: str) -> None:
        if attempt + 1 < self.retry.tries:
            delay = self.retry.backoff_s * 2 ** attempt
            self.log(f"  retrying {what} in {delay:g} s ({why})")
            time.sleep(delay)

    def _send(self, method: str, path: str, what: str, auth: bool = True, **kwargs) -> object:
        """One API call; the JSON answer (or text for CSV)."""
        session = self._session(storage=not auth)
        why = "no answer"
        attempts = self._attempts(method)
        for attempt in attempts:
            try:
                response = session.request(method, self.url(path), timeout=self.retry.timeout_s, **kwargs)
                if response.status_code >= 500:
                    raise _Transient(f"{response.status_code} {self._detail(response)}")
                if response.status_code >= 400:
                    raise self._refusal(response, method, what)
                if not response.content:
                    return {}
                if "json" in response.headers.get("Content-Type", ""):
                    return response.json()
                return response.text
            except (_Transient, requests.Timeout, requests.ConnectionError) as exc:
                why = _reason(exc, self.retry.timeout_s)
                if attempt + 1 < len(attempts):
                    self._wait(attempt, what, why)
            except ValueError as exc:
                raise self.error(f"{method} {what}: the answer is not JSON ({exc}).") from None
            except requests.RequestException as exc:
                raise self.error(f"{method} {what}: {exc}") from None
        tries = len(attempts)
        raise self.error(f"{method} {what}: {why}" + (f" ({tries} tries)" if tries > 1 else
                                                      " (not repeated: it changes the site)") + ".")

    def get(self, path: str, what: str, **params) -> object:
        return self._send("GET", path, what, params=params or None)

    def post(self, path: str, what: str, body: object = None) -> object:
        return self._send("POST", path, what, json=body)

    def put(self, path: str, what: str, body: object = None) -> object:
        return self._send("PUT", path, what, json=body)

    # -- storage ------------------------------------------------------------------------------------
    def download(self, url: str, target: Path, what: str) -> tuple[str, int]:
        """Stream a presigned URL into ``target`` (no Authorization header); (sha256, bytes). A
        transfer shorter than its Content-Length is retried, then refused; ``target`` is written
        whole or left as it was."""
        why = "no answer"
        for attempt in range(self.retry.tries):
            try:
                session = self._session(storage=True)
                with session.get(url, stream=True, timeout=self.retry.timeout_s) as answer:
                    if answer.status_code >= 500:
                        raise _Transient(f"storage answered {answer.status_code}")
                    if answer.status_code != 200:
                        raise self.error(f"{what}: storage refused the download ({answer.status_code} "
                                         f"{self._detail(answer)[:120]}); its presigned URL may have "
                                         f"expired: run the same pull again.")
                    declared = answer.headers.get("Content-Length")
                    digest, size = hashlib.sha256(), 0
                    with atomic_open(target) as out:
                        for chunk in answer.iter_content(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                        if declared is not None and size != int(declared):
                            raise _Transient(f"truncated: {size} of {declared} bytes")
                    return digest.hexdigest(), size
            except (_Transient, requests.Timeout, requests.ConnectionError,
                    requests.exceptions.ChunkedEncodingError) as exc:
                why = _reason(exc, self.retry.timeout_s)
                self._wait(attempt, what, why)
            except requests.RequestException as exc:
                raise self.error(f"{what}: {exc}") from None
        raise self.error(f"{what}: {why} ({self.retry.tries} tries); nothing of it was kept.")

    def upload(self, url: str, source: Path, what: str) -> None:
        """PUT a file to a presigned URL (no Authorization header), as the site's own page does."""
        why = "no answer"
        for attempt in range(self.retry.tries):
            try:
                with source.open("rb") as stream:
                    answer = self._session(storage=True).put(
                        url, data=stream, headers={"Content-Type": "application/zip"},
                        timeout=self.retry.timeout_s)
                if answer.status_code >= 500:
                    raise _Transient(f"storage answered {answer.status_code}")
                if answer.status_code >= 300:
                    raise self.error(f"{what}: storage refused the upload ({answer.status_code} "
                                     f"{self._detail(answer)[:120]}).")
                return
            except (_Transient, requests.Timeout, requests.ConnectionError) as exc:
                why = _reason(exc, self.retry.timeout_s)
                self._wait(attempt, what, why)
            except requests.RequestException as exc:
                raise self.error(f"{what}: {exc}") from None
        raise self.error(f"{what}: {why} ({self.retry.tries} tries).")

    # -- endpoints ----------------------------------------------------------------------------------
    def competition(self, competition: int) -> dict:
        return _mapping(self.get(f"/api/competitions/{competition}/", f"competition {competition}"), self)

    def submissions(self, phase_id: int) -> list[dict]:
        """Every submission of a phase the organiser may see, following pages if the site pages."""
        answer = self.get("/api/submissions/", f"the submissions of phase id {phase_id}", phase=phase_id)
        items = answer.get("results", []) if isinstance(answer, dict) else answer
        found = list(items or [])
        while isinstance(answer, dict) and answer.get("next"):
            answer = self.get(answer["next"], f"the submissions of phase id {phase_id}")
            found += list(answer.get("results", []))
        return [s for s in found if isinstance(s, dict)]

    def submission(self, submission: int) -> dict:
        return _mapping(self.get(f"/api/submissions/{submission}/", f"submission {submission}"), self)

    def details(self, submission: int) -> dict:
        """Presigned URLs of the submission zip and its outputs (``get_details``)."""
        return _mapping(self.get(f"/api/submissions/{submission}/get_details/",
                                 f"the outputs of submission {submission}"), self)

    def re_run(self, submission: int) -> int:
        answer = _mapping(self.post(f"/api/submissions/{submission}/re_run_submission/",
                                    f"re-run of submission {submission}"), self)
        if "id" not in answer:
            raise self.error(f"re-run of submission {submission}: the site answered no new id ({answer}).")
        return int(answer["id"])

    def re_run_phase(self, phase_id: int) -> int:
        """Every parent-less submission of the phase (a GET on this site); the count started."""
        answer = _mapping(self.get(f"/api/phases/{phase_id}/rerun_submissions/",
                                   f"re-run of phase id {phase_id}"), self)
        return int(answer.get("count", 0))


def _mapping(answer: object, client: CodabenchClient) -> dict:
    if not isinstance(answer, dict):
        raise client.error(f"{client.site}: expected a JSON object, got {type(answer).__name__}.")
    return answer


def _reason(exc: Exception, timeout_s: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, _Transient):
        return str(exc)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "truncated: the connection ended before the declared Content-Length"
    return "the connection failed or was dropped"


def shown(url: str) -> str:
    """A storage URL as it may be printed or recorded: its path, no host, no signature."""
    return urlsplit(url).path
