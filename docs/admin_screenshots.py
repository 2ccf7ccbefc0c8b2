"""Screenshots of the admin for the README: `make screenshots` runs this.

Starts RunnerHub as production runs it (gunicorn, DEBUG off, its own Redis and a fresh SQLite
database, as the end-to-end tests do), adds example accounts and mappings, signs in with
headless Chromium (Debian's `chromium`, driven by Playwright) and saves the PNGs in docs/.
"""
import hashlib
from pathlib import Path

from harness.browser import headless_chromium
from harness.redis_server import RedisServer
from harness.servers import Gunicorn

ROOT = Path(__file__).resolve().parent.parent

USERNAME, PASSWORD = "maintainer", "screenshots-only-password-0123456789"
IMAGE = "rg.fr-par.scw.cloud/riseproject/riscv-runner"
DIGEST = hashlib.sha256(b"an example runner image").hexdigest()

EXAMPLES = f"""
from webhooks.models import Account, LabelMapping

accounts = [
    Account(github_id=100001, login="example-riscv-org", staging=True,
            note="Trying the new runner image on staging"),
    Account(github_id=100002, login="example-toolchains", max_workers=8),
    Account(github_id=100003, login="example-user", type="User", blocked=True,
            note="Ran crypto miners"),
]
mappings = [
    LabelMapping(label="ubuntu-24.04-riscv", pool="cloudv10x-pioneer", owner_id=100002,
                 image="{IMAGE}:ubuntu-24.04-latest", extra_labels=["self-hosted"],
                 note="Toolchain builds need the bigger boards"),
    LabelMapping(label="ubuntu-24.04-riscv-rvv", pool="cloudv10x-rvv", owner_id=100002,
                 repo_glob="llvm-*", image="{IMAGE}@sha256:{DIGEST}"),
    LabelMapping(label="ubuntu-26.04-riscv-*", pool="scw-em-rv1", priority=200,
                 image="{IMAGE}:ubuntu-26.04-latest"),
    LabelMapping(label="debian-13-riscv", pool="scw-em-rv1", enabled=False,
                 image="{IMAGE}:debian-13-latest"),
]
for row in [*accounts, *mappings]:
    row.full_clean()
    row.save()
"""

SHOTS = {
    "admin-label-mappings.png": "/admin/webhooks/labelmapping/",
    "admin-match-preview.png": (
        "/admin/webhooks/labelmapping/preview/"
        "?runs_on=ubuntu-24.04-riscv%2C+self-hosted&owner_id=100002&repository=gcc"
    ),
}


def main() -> None:
    redis_server = RedisServer().start()
    server = Gunicorn(
        redis_server.url, workers=1, env={"STAGING_URL": "http://staging.runnerhub.internal/"}
    )
    try:
        server.start()
        server.shell(EXAMPLES)
        server.create_superuser(USERNAME, PASSWORD)
        take(server.url)
    finally:
        server.stop()
        redis_server.cleanup()


def take(base_url: str) -> None:
    with headless_chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 900}, color_scheme="light")
        page.goto(f"{base_url}/admin/login/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base_url}/admin/")
        page.goto(base_url + SHOTS["admin-label-mappings.png"])
        page.click("#toggle-nav-sidebar")  # more room for the tables; the admin remembers it
        for name, path in SHOTS.items():
            response = page.goto(base_url + path)
            if response is None or response.status != 200:
                raise RuntimeError(f"{path} answered {response and response.status}")
            page.screenshot(path=str(ROOT / "docs" / name), full_page=True)
            print(f"docs/{name}")


if __name__ == "__main__":
    main()
