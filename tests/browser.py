"""Playwright driving Debian's Chromium (/usr/bin/chromium), headless, fully offline.

Every test gets a fresh browser profile. Any request that is not for a local file (file:, data:,
blob:) is aborted and recorded in ``Browser.network``, so a test can assert that a page needs
no network at all. Playwright's own browser download is never used (``tools/setup_browser.sh``
installs the Debian package).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("AIFLASH_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"  # git-ignored; screenshots a person can look at after a run


@dataclass
class Browser:
    context: object
    network: list[str] = field(default_factory=list)  # every non-local request (all were aborted)

    def new_page(self, width: int = 1280, height: int = 900):
        page = self.context.new_page()
        page.set_viewport_size({"width": width, "height": height})
        page.on("request", self._record)
        return page

    def _record(self, request) -> None:
        if not request.url.startswith(LOCAL_SCHEMES):
            self.network.append(request.url)


def _require_chromium() -> None:
    # A missing browser is a broken set-up, never a reason to skip: `make test` installs it.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not installed: run tools/setup_browser.sh (as `make test` does)")


@contextmanager
def chromium(downloads: Path | None = None) -> Iterator[Browser]:
    """A headless Chromium context with a fresh user-data-dir; non-local requests are blocked."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="aiflash-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=ARGS,
            accept_downloads=True, downloads_path=str(downloads) if downloads else None,
            service_workers="block")
        browser = Browser(context)

        def guard(route) -> None:
            if route.request.url.startswith(LOCAL_SCHEMES):
                route.continue_()
            else:
                browser.network.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        try:
            yield browser
        finally:
            context.close()


def save_screenshot(page, name: str, *also: Path, full_page: bool = True) -> Path:
    """Screenshot to test-artifacts/<name> and to every path in ``also``; returns the first."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    for other in also:
        other.parent.mkdir(parents=True, exist_ok=True)
        other.write_bytes(path.read_bytes())
    return path
