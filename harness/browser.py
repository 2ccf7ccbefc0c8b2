"""Headless Chromium for the browser tests and the screenshots: Debian's chromium, driven by
Playwright. `make browser` installs it; Playwright never downloads a browser of its own here."""
import contextlib
import os
import shutil
from collections.abc import Iterator

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return CHROMIUM if shutil.which(CHROMIUM) else None


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        raise RuntimeError(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
