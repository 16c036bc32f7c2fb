"""The web console, in a real browser, through the whole flow of a model developer.

``python -m flageval_launcher up`` in a subprocess (its own data dir; the admin's credentials
generated into it) serves the built SPA (``web/dist``, ``make web``) at ``/``. Headless Chromium
(the system's ``/usr/bin/chromium``; Playwright never downloads a browser) driven by Playwright
registers a user, fills the profile, has the admin approve it, creates an NLP evaluation,
uploads ``examples/demo-nlp-bundle`` with the real ``flageval-serving`` CLI and the command the
page shows, validates, runs the formal evaluation, publishes it anonymously and finds it on the
leaderboard, then switches the language. Only the ``data-testid`` contract of docs/web.md is
used to find elements. Screenshots of every step go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect, sync_playwright

from flageval_platform.testing import free_port
from flageval_platform.testing import launched_platform as platform

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "examples" / "demo-nlp-bundle"
WEB_DIST = ROOT / "web" / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USER = {"email": "ann@example.org", "username": "ann", "password": "correct-horse-42"}
EVALUATION = "demo-keywords-web"
ACTION_TIMEOUT_MS = 20_000
RUN_TIMEOUT_MS = 90_000
FINISHED = ("succeeded", "failed", "stopped")


# ---------------------------------------------------------------- the platform (as tests/e2e)


def platform_env(tmp_path: Path, port: int) -> dict[str, str]:
    """Its own port and data dir; no admin variables, so the launcher generates the admin's
    credentials into ``<data dir>/admin-credentials.json`` as on a person's first ``make up``.
    The gateway finds the repository's ``web/dist`` itself, unless ``FLAGEVAL_WEB_DIR`` names
    another build (the one variable passed through)."""
    env = {
        "FLAGEVAL_PORT": str(port),
        "FLAGEVAL_DATA_DIR": str(tmp_path / "data"),
        "FLAGEVAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    if os.environ.get("FLAGEVAL_WEB_DIR"):
        env["FLAGEVAL_WEB_DIR"] = os.environ["FLAGEVAL_WEB_DIR"]
    return env


def web_dist() -> Path:
    return Path(os.environ.get("FLAGEVAL_WEB_DIR") or WEB_DIST)


# ---------------------------------------------------------------- the browser


class Console:
    """A page of the console with what a failure report needs: screenshots, console errors."""

    def __init__(self, page: Page, base: str, log_path: Path) -> None:
        self.page = page
        self.base = base
        self.log_path = log_path
        self.errors: list[str] = []
        self.step = 0
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.set_default_timeout(ACTION_TIMEOUT_MS)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console.error at {self.page.url}: {message.text}")

    def by(self, test_id: str) -> Locator:
        return self.page.get_by_test_id(test_id)

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}")

    def shot(self, name: str) -> Path:
        self.step += 1
        path = ARTIFACTS / f"{self.step:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path

    def report(self) -> str:
        """What to read when a step fails: the page, its console errors, the platform's log."""
        try:
            shot = str(self.shot("failure"))
        except Exception as exc:  # a dead page must not hide the real failure
            shot = f"(no screenshot: {exc})"
        try:
            body = self.page.inner_text("body")[:2000]
        except Exception as exc:
            body = f"(no page text: {exc})"
        log = self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
        errors = "\n".join(self.errors[-30:]) or "(none)"
        return (
            f"\n--- page {self.page.url}, screenshot {shot}\n{body}"
            f"\n--- console errors\n{errors}\n--- platform log (tail)\n{log}"
        )

    # ------------------------------------------------------------ steps used more than once

    def log_in(self, email: str, password: str) -> None:
        self.goto("/login")
        self.by("login-email").fill(email)
        self.by("login-password").fill(password)
        self.by("login-submit").click()
        expect(self.by("nav-logout")).to_be_visible()

    def log_out(self) -> None:
        self.by("nav-logout").click()
        expect(self.by("login-submit")).to_be_visible()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it); "
        "Playwright's own browser download is never used"
    )
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# ---------------------------------------------------------------- the flow


def test_console_from_registration_to_the_leaderboard(browser: Browser, tmp_path: Path) -> None:
    assert (web_dist() / "index.html").exists(), "the web console is not built: run `make web`"
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    cli = shutil.which("flageval-serving") or str(Path(sys.executable).parent / "flageval-serving")
    bundle = tmp_path / "demo-nlp-bundle"  # a copy: serving it leaves no __pycache__ in examples/
    shutil.copytree(BUNDLE, bundle)
    port = free_port()
    log_path = tmp_path / "platform.log"
    context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    try:
        with platform("up", platform_env(tmp_path, port), log_path, port) as base:
            console = Console(context.new_page(), base, log_path)
            try:
                _whole_flow(console, cli, bundle, tmp_path / "data")
            except Exception as exc:
                # The report says it all; the chained Playwright traceback would only add noise.
                raise AssertionError(f"{type(exc).__name__}: {exc}{console.report()}") from None
    finally:
        context.close()


def _whole_flow(c: Console, cli: str, bundle: Path, data_dir: Path) -> None:
    page = c.page

    # 1. The app is served at / by the gateway; register and log in.
    c.goto("/register")
    c.by("register-email").fill(USER["email"])
    c.by("register-username").fill(USER["username"])
    c.by("register-password").fill(USER["password"])
    c.shot("register")
    c.by("register-submit").click()
    page.wait_for_url(lambda url: "/register" not in url)
    expect(c.by("nav-logout").or_(c.by("login-submit")).first).to_be_visible()
    if c.by("nav-logout").is_visible():  # registering logged her in: log in by the form too
        c.log_out()
    c.log_in(USER["email"], USER["password"])
    c.shot("logged-in")

    # 2. The profile: submitted, the account waits for review.
    c.goto("/profile")
    c.by("profile-real-name").fill("Ann Lee")
    c.by("profile-organization").fill("Example Lab")
    c.by("profile-title").fill("Researcher")
    c.by("profile-phone").fill("13800000000")
    c.by("profile-purpose").fill("evaluate our LLM")
    c.by("profile-submit").click()
    expect(c.by("account-status")).to_have_attribute("data-status", "pending_review")
    c.shot("profile-pending-review")
    c.log_out()

    # 3. The admin (credentials generated by the launcher) approves her.
    creds = json.loads((data_dir / "admin-credentials.json").read_text())
    c.log_in(creds["email"], creds["password"])
    c.goto("/admin/users")
    row = c.by("admin-user-row").filter(has_text=USER["email"])
    expect(row).to_have_count(1)
    approve = row.get_by_test_id("admin-approve")
    approve.click()
    # Reviewed: the list (pending review by default) reloads without her. One condition
    # Playwright re-checks, not several reads that can race the reload.
    expect(row).to_have_count(0, timeout=ACTION_TIMEOUT_MS)
    c.shot("admin-approved")
    c.log_out()

    # 4. Approved, she creates an NLP private evaluation (defaults for image, card and GPUs).
    c.log_in(USER["email"], USER["password"])
    c.goto("/profile")
    expect(c.by("account-status")).to_have_attribute("data-status", "approved")
    c.by("nav-console").click()
    c.by("eval-create").click()
    c.by("eval-domain-nlp").click()
    c.by("eval-name").fill(EVALUATION)
    c.by("eval-dataset-demo-en-choice").check()
    c.shot("create-evaluation")
    c.by("eval-submit").click()
    page.wait_for_url(re.compile(r"/console/evaluations/(?!new)[^/?#]+$"))
    expect(c.by("eval-detail-name")).to_contain_text(EVALUATION)
    c.shot("evaluation-detail")

    # 5. Upload with the command the dialog shows, the model folder replaced by the bundle.
    c.by("btn-upload").click()
    expect(c.by("upload-command")).to_contain_text("flageval-serving upload")
    command = shlex.split(c.by("upload-command").inner_text().strip())
    assert command[:2] == ["flageval-serving", "upload"], command
    c.shot("upload-dialog")
    upload = subprocess.run(
        [cli, *command[1:-1], str(bundle)], capture_output=True, text=True, timeout=90
    )
    assert upload.returncode == 0, upload.stdout + upload.stderr
    expect(c.by("bundle-status")).to_have_attribute("data-status", "valid", timeout=30_000)
    c.shot("bundle-valid")
    page.keyboard.press("Escape")
    expect(c.by("upload-command")).to_be_hidden()

    # 6. A validation run: sampled questions with the model's answers.
    c.by("btn-validate").click()
    validation = page.locator('[data-testid="run-row"][data-kind="validation"]').first
    expect(validation).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT_MS)
    validation.click()
    c.by("tab-validation").click()
    samples = c.by("samples-table").get_by_test_id("sample-row")
    expect(samples.first).to_be_visible()
    assert samples.count() > 0
    expect(samples.first).to_contain_text("demo-en-choice")
    c.shot("validation-samples")

    # 7. The formal run, after the confirmation with the remaining quota.
    c.by("btn-formal").click()
    expect(c.by("quota-remaining")).to_contain_text(re.compile(r"\d"))
    c.shot("formal-confirm")
    c.by("confirm-formal").click()
    formal = page.locator('[data-testid="run-row"][data-kind="formal"]').first
    expect(formal).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT_MS)
    formal.click()
    expect(c.by("run-status")).to_have_attribute("data-status", "succeeded")
    c.by("tab-metrics").click()
    metric_row = (
        c.by("metrics-table").get_by_test_id("metrics-row").filter(has_text="demo-en-choice")
    )
    expect(metric_row).to_have_count(1)
    expect(metric_row).to_contain_text(re.compile(r"\b[01]?\.\d+\b"))
    c.shot("formal-metrics")
    c.by("tab-logs").click()
    expect(c.by("logs-view")).not_to_be_empty()
    expect(c.by("logs-view")).to_contain_text(re.compile(r"\S"))
    c.shot("formal-logs")

    # 8. Publish anonymously; the board shows the entry under 匿名.
    c.by("btn-publish").click()
    c.by("publish-mode-anonymous").click()
    c.shot("publish-dialog")
    c.by("publish-confirm").click()
    expect(c.by("publish-done")).to_be_visible()
    c.shot("published")
    c.goto("/leaderboards/nlp")
    entry = c.by("leaderboard-row").filter(has_text=EVALUATION)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("匿名")
    c.shot("leaderboard")

    # 9. English: the header's labels change to Latin script.
    nav = c.by("nav-leaderboards")
    before = nav.inner_text()
    assert re.search(r"[\u4e00-\u9fff]", before), f"not Chinese by default: {before!r}"
    c.by("lang-switch").click()
    expect(nav).not_to_have_text(before)
    after = nav.inner_text()
    assert re.search(r"[A-Za-z]", after) and not re.search(r"[\u4e00-\u9fff]", after), after
    expect(c.by("leaderboard-row").filter(has_text=EVALUATION)).to_have_count(1)
    c.shot("leaderboard-english")
