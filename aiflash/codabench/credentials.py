"""Who talks to which site: ``CODABENCH_URL`` plus ``CODABENCH_TOKEN`` or ``CODABENCH_USERNAME`` /
``CODABENCH_PASSWORD``, from the environment or a credentials file of mode 0600, and the redaction
that keeps the secrets out of every line and file we write."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CodabenchError

KEYS = ("CODABENCH_URL", "CODABENCH_TOKEN", "CODABENCH_USERNAME", "CODABENCH_PASSWORD")
FILE_VARIABLE = "CODABENCH_CREDENTIALS"
DEFAULT_FILE = Path("~/.config/aiflash/codabench.env")
_QUERY = re.compile(r"(https?://[^\s?'\"<>]+)\?[^\s'\"<>]*")  # a presigned URL's signature


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.token, self.password) if s)


class Redactor:
    """Removes the token, the password and presigned URLs' query strings from any text."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        self.secrets = [s for s in secrets if s]

    def add(self, secret: str) -> None:
        if secret and secret not in self.secrets:
            self.secrets.append(secret)

    def __call__(self, text: object) -> str:
        text = _QUERY.sub(r"\1?<query removed>", str(text))
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "<redacted>")
        return text


def read_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional quotes); refused unless only its owner may read it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise CodabenchError(f"{path}: cannot read the credentials file ({exc.strerror}).") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CodabenchError(f"{path}: mode {stat.S_IMODE(mode):04o} lets other users read the Codabench "
                             f"credentials; run `chmod 600 {path}` and try again.")
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or key.strip() not in KEYS:
            raise CodabenchError(f"{path}:{number}: expected KEY=VALUE with KEY one of {', '.join(KEYS)}.")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def load(environ: dict[str, str] | None = None, file: Path | None = None) -> Credentials:
    """The environment wins over the file (``--credentials``, ``$CODABENCH_CREDENTIALS`` or
    ``~/.config/aiflash/codabench.env`` when it exists)."""
    environ = dict(os.environ if environ is None else environ)
    if file is None and environ.get(FILE_VARIABLE):
        file = Path(environ[FILE_VARIABLE])
    if file is None and DEFAULT_FILE.expanduser().is_file():
        file = DEFAULT_FILE.expanduser()
    values = read_file(Path(file).expanduser()) if file is not None else {}
    values.update({k: environ[k] for k in KEYS if environ.get(k)})
    url = values.get("CODABENCH_URL", "").rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise CodabenchError("no Codabench site: set CODABENCH_URL (e.g. https://www.codabench.org) in the "
                             "environment or the credentials file.")
    token, user, password = (values.get(k) for k in KEYS[1:])
    if not token and not (user and password):
        raise CodabenchError("no Codabench credentials: set CODABENCH_TOKEN, or CODABENCH_USERNAME and "
                             "CODABENCH_PASSWORD (environment, or a credentials file of mode 0600 given "
                             "with --credentials).")
    return Credentials(url, token or None, user or None, password or None)
