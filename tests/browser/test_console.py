"""The web console, in a real browser, through the whole flow of a model developer.

``python -m flageval_launcher up`` in a subprocess (its own data dir; the admin's credentials
generated into it) serves the built SPA (``web/dist``, ``make web``) at ``/``. Headless Chromium
(the system's ``/usr/bin/chromium``; Playwright never downloads a browser) driven by Playwright
registers a user, fills the profile, has the admin approve it, creates an NLP evaluation,
uploads ``examples/demo-nlp-bundle`` with the real ``flageval-serving`` CLI and the command the
page shows, validates, runs the formal evaluation, publishes it anonymously and finds it on the
leaderboard, then switches the language. Only the ``data-testid`` contract of docs/web.md is
used to find elements. Screenshots of every step go to ``test-artifacts/browser/``.

The second test (issue 14) is the admin datasets page and the honest create form: the MMLU
fixture imported as an archive onto built-in ``mmlu`` (a broken copy refused by file and line
first), a tiny media dataset uploaded for ``textvqa`` with the real CLI and the command the
dialog shows, then the create form offering only datasets with data (screenshots
``datasets-NN-….png``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
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
NLP_FIXTURES = ROOT / "libs" / "datasets" / "tests" / "fixtures" / "nlp"
MMLU_FIXTURE = NLP_FIXTURES / "mmlu"
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

    def __init__(self, page: Page, base: str, log_path: Path, prefix: str = "") -> None:
        self.page = page
        self.base = base
        self.log_path = log_path
        self.prefix = prefix  # screenshots of one test: "<prefix>NN-<step>.png"
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
        path = ARTIFACTS / f"{self.prefix}{self.step:02d}-{name}.png"
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


def _upload_bundle(c: Console, cli: str, bundle: Path) -> None:
    """The upload dialog's command, run with the real CLI on ``bundle``; the version is valid."""
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
    c.page.keyboard.press("Escape")
    expect(c.by("upload-command")).to_be_hidden()


def _formal_run(c: Console, datasets: list[str]) -> None:
    """Confirm a formal run (the dialog shows the quota); it succeeds and the metrics tab has a
    row with a score for every one of ``datasets``."""
    c.by("btn-formal").click()
    expect(c.by("quota-remaining")).to_contain_text(re.compile(r"\d"))
    c.shot("formal-confirm")
    c.by("confirm-formal").click()
    formal = c.page.locator('[data-testid="run-row"][data-kind="formal"]').first
    expect(formal).to_have_attribute("data-status", "succeeded", timeout=RUN_TIMEOUT_MS)
    formal.click()
    expect(c.by("run-status")).to_have_attribute("data-status", "succeeded")
    c.by("tab-metrics").click()
    for dataset in datasets:
        row = c.by("metrics-table").locator(
            f'[data-testid="metrics-row"][data-dataset="{dataset}"]'
        )
        expect(row).to_have_count(1)
        score = row.locator("td").filter(has_text=re.compile(r"^\s*[01](\.\d+)?\s*$"))
        expect(score.first).to_be_visible()
    c.shot("formal-metrics")


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
    _upload_bundle(c, cli, bundle)

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
    _formal_run(c, ["demo-en-choice"])
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


# ---------------------------------------------------------------- datasets (issue 14)


def _mmlu_archive(target: Path, *, broken: bool = False) -> Path:
    """The MMLU fixture's ``data/`` folder (dev/val/test CSVs) as a .tar.gz, as the public
    data.tar is laid out; ``broken`` puts an answer letter that is not A-D on line 2 of
    ``data/test/anatomy_test.csv``."""
    src = MMLU_FIXTURE / "data"
    work = target.parent / f"{target.name}.d" / "data"
    shutil.copytree(src, work)
    if broken:
        csv = work / "test" / "anatomy_test.csv"
        lines = csv.read_text().splitlines(keepends=True)
        assert lines[1].rstrip().endswith(",C"), lines[1]
        lines[1] = lines[1].rstrip()[:-1] + "E\n"
        csv.write_text("".join(lines))
    with tarfile.open(target, "w:gz") as tar:
        tar.add(work, arcname="data")
    return target


def _ceval_archive(target: Path) -> Path:
    """The C-Eval fixture (``dev/`` and ``val/`` per subject) zipped as ceval-exam.zip is."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted((NLP_FIXTURES / "ceval").rglob("*.csv")):
            archive.write(path, f"ceval-exam/{path.relative_to(NLP_FIXTURES / 'ceval')}")
    return target


def _import_public_files(c: Console, dataset: str, payload: Path) -> None:
    """Attach data to a built-in NLP dataset through the import tab (its format and language
    preselected from the catalog) and wait for the registration."""
    row = c.page.locator(f'[data-testid="dataset-row"][data-dataset="{dataset}"]')
    expect(row).to_have_attribute("data-has-data", "false")
    row.get_by_test_id("dataset-attach").click()
    expect(c.by("attach-dialog")).to_be_visible()
    c.by("import-file").set_input_files(str(payload))
    c.by("import-submit").click()
    expect(c.by("import-result")).to_contain_text(f"Registered {dataset} version 1")
    c.by("attach-close").click()
    expect(c.by("attach-dialog")).to_be_hidden()
    expect(row).to_have_attribute("data-has-data", "true")


def _tiny_vqa_dataset(root: Path, name: str) -> Path:
    """A media dataset folder as the CLI uploads it: card.json, manifest.jsonl, two PNGs."""
    from PIL import Image

    (root / "files").mkdir(parents=True)
    lines = []
    for i, colour in enumerate([(200, 0, 0), (0, 0, 200)]):
        Image.new("RGB", (16, 16), colour).save(root / "files" / f"{i}.png")
        answer = ["red", "blue"][i]
        lines.append(
            {
                "id": f"q{i}",
                "images": [f"{i}.png"],
                "question": "What colour is it?",
                "question_type": "other",
                "answers": [answer],
            }
        )
    (root / "card.json").write_text(json.dumps({"name": name, "kind": "vqa", "version": "1"}))
    (root / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return root


def _approved_user(base: str, admin_email: str, admin_password: str) -> None:
    """Ann registered, with a profile and approved, through the API (the UI path of these
    steps is the first test's)."""
    with httpx.Client(base_url=base, timeout=30) as client:

        def login(email: str, password: str) -> dict[str, str]:
            reply = client.post("/api/auth/login", json={"email": email, "password": password})
            assert reply.status_code == 200, reply.text
            return {"authorization": f"Bearer {reply.json()['access_token']}"}

        reply = client.post("/api/auth/register", json=USER)
        assert reply.status_code == 201, reply.text
        user_id = reply.json()["id"]
        profile = {"real_name": "Ann Lee", "organization": "Example Lab", "purpose": "evaluate"}
        reply = client.put(
            "/api/me/profile", json=profile, headers=login(USER["email"], USER["password"])
        )
        assert reply.status_code == 200, reply.text
        reply = client.post(
            f"/api/admin/users/{user_id}/review",
            json={"decision": "approve"},
            headers=login(admin_email, admin_password),
        )
        assert reply.status_code == 200, reply.text


def test_admin_attaches_mmlu_data_and_users_see_only_datasets_with_data(
    browser: Browser, tmp_path: Path
) -> None:
    """The admin datasets page lists built-in ``mmlu`` without data; importing the MMLU
    fixture as an archive with a wrong answer letter shows the problem by file and line and
    stores nothing; the good archive gives it data and the item count (7 test items). The
    create form then offers ``mmlu`` to a user and not ``cmmlu`` (no data), which an admin
    sees greyed with "no data yet"."""
    assert (web_dist() / "index.html").exists(), "the web console is not built: run `make web`"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("datasets-*.png"):
        old.unlink()
    good = _mmlu_archive(tmp_path / "mmlu.tar.gz")
    bad = _mmlu_archive(tmp_path / "mmlu-broken.tar.gz", broken=True)
    bundle = tmp_path / "demo-nlp-bundle"
    shutil.copytree(BUNDLE, bundle)
    port = free_port()
    log_path = tmp_path / "platform.log"
    context = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900})
    context.add_init_script("localStorage.setItem('flageval.lang', 'en')")  # English labels
    try:
        with platform("up", platform_env(tmp_path, port), log_path, port) as base:
            console = Console(context.new_page(), base, log_path, prefix="datasets-")
            try:
                _datasets_flow(console, base, good, bad, tmp_path, bundle)
            except Exception as exc:
                raise AssertionError(f"{type(exc).__name__}: {exc}{console.report()}") from None
    finally:
        context.close()


def _datasets_flow(
    c: Console, base: str, good: Path, bad: Path, tmp_path: Path, bundle: Path
) -> None:
    page = c.page
    creds = json.loads((tmp_path / "data" / "admin-credentials.json").read_text())
    c.log_in(creds["email"], creds["password"])

    # 1. Every catalog dataset is listed; built-in mmlu has no data yet.
    c.by("nav-admin-datasets").click()
    c.by("datasets-domain-nlp").click()
    mmlu = page.locator('[data-testid="dataset-row"][data-dataset="mmlu"]')
    expect(mmlu).to_have_attribute("data-has-data", "false")
    expect(mmlu.get_by_test_id("dataset-item-count")).to_have_text("—")
    expect(
        page.locator('[data-testid="dataset-row"][data-dataset="demo-en-choice"]')
    ).to_have_attribute("data-has-data", "true")
    c.shot("admin-datasets")

    # 2. Import the public files: a broken archive is refused by file and line, nothing stored.
    mmlu.get_by_test_id("dataset-attach").click()
    expect(c.by("attach-dialog")).to_be_visible()
    expect(c.by("import-format")).to_contain_text("mmlu")  # the importer built-in mmlu needs
    c.by("import-file").set_input_files(str(bad))
    c.by("import-submit").click()
    problem = c.by("dataset-problem").filter(has_text="answer 'E'")
    expect(problem).to_have_count(1)
    expect(problem).to_have_attribute("data-file", "data/test/anatomy_test.csv")
    expect(problem).to_have_attribute("data-line", "2")
    expect(c.by("form-error")).to_contain_text("nothing was stored")
    c.shot("import-rejected")
    c.by("import-file").set_input_files(str(good))
    c.by("import-submit").click()
    expect(c.by("import-result")).to_contain_text("Registered mmlu version 1")
    c.shot("import-registered")
    c.by("attach-close").click()
    expect(c.by("attach-dialog")).to_be_hidden()

    # 3. The row has data: version 1, 7 items (the fixture's test split), one version listed.
    expect(mmlu).to_have_attribute("data-has-data", "true")
    expect(mmlu.get_by_test_id("dataset-item-count")).to_have_text("7")
    expect(mmlu.get_by_test_id("dataset-version")).to_have_text("1")
    expect(mmlu.get_by_test_id("dataset-version-count")).to_have_text("1")
    mmlu.get_by_test_id("dataset-versions-toggle").click()
    version = c.by("dataset-versions").get_by_test_id("dataset-version-row")
    expect(version).to_have_count(1)
    expect(version).to_have_attribute("data-version", "1")
    expect(version).to_contain_text("7")
    c.shot("admin-datasets-mmlu-has-data")

    # 3b. C-Eval (its public zip) and GSM8K (test.jsonl) the same way.
    _import_public_files(c, "c-eval", _ceval_archive(tmp_path / "ceval-exam.zip"))
    _import_public_files(c, "gsm8k", NLP_FIXTURES / "gsm8k" / "test.jsonl")
    c.shot("admin-datasets-ceval-gsm8k")

    # 4. A media dataset for built-in textvqa: token, the CLI command the dialog shows (the
    #    real flageval-serving), its progress until valid, Register; the row then has data.
    c.by("datasets-domain-multimodal").click()
    textvqa = page.locator('[data-testid="dataset-row"][data-dataset="textvqa"]')
    expect(textvqa).to_have_attribute("data-has-data", "false")
    textvqa.get_by_test_id("dataset-attach").click()
    c.by("attach-tab-media").click()
    expect(c.by("media-version")).to_have_value("1")
    c.by("media-token").click()
    expect(c.by("media-upload-command")).to_contain_text("flageval-serving upload")
    command = shlex.split(c.by("media-upload-command").inner_text().strip())
    assert command[:2] == ["flageval-serving", "upload"], command
    folder = _tiny_vqa_dataset(tmp_path / "my_dataset", "textvqa")
    cli = shutil.which("flageval-serving") or str(Path(sys.executable).parent / "flageval-serving")
    upload = subprocess.run(
        [cli, *command[1:-1], str(folder)], capture_output=True, text=True, timeout=60
    )
    assert upload.returncode == 0, upload.stdout + upload.stderr
    expect(c.by("media-upload-status")).to_have_attribute("data-status", "valid", timeout=30_000)
    c.shot("media-uploaded")
    c.by("media-register").click()
    expect(c.by("media-result")).to_contain_text("Registered textvqa version 1")
    c.shot("media-registered")
    c.by("attach-close").click()
    expect(textvqa).to_have_attribute("data-has-data", "true")
    expect(textvqa.get_by_test_id("dataset-item-count")).to_have_text("2")

    # 5. The admin's create form: cmmlu greyed with "no data yet", mmlu selectable.
    c.goto("/console/evaluations/new")
    c.by("eval-domain-nlp").click()
    expect(c.by("eval-dataset-no-data-cmmlu")).to_be_visible()
    expect(c.by("eval-dataset-cmmlu")).to_be_disabled()
    expect(c.by("eval-dataset-mmlu")).to_be_enabled()
    c.shot("create-form-admin")
    c.log_out()

    # 6. A user's create form offers mmlu and does not offer cmmlu at all.
    _approved_user(base, creds["email"], creds["password"])
    c.log_in(USER["email"], USER["password"])
    c.goto("/console/evaluations/new")
    c.by("eval-domain-nlp").click()
    expect(c.by("eval-dataset-mmlu")).to_be_visible()
    expect(c.by("eval-dataset-cmmlu")).to_have_count(0)
    expect(c.by("eval-dataset-no-data-cmmlu")).to_have_count(0)
    public = ["mmlu", "c-eval", "gsm8k"]
    for dataset in public:
        c.by(f"eval-dataset-{dataset}").check()
    c.by("eval-name").fill("public-sets")
    c.shot("create-form-user")

    # 7. From the public files to a scored run: her bundle, a formal run, a score per dataset.
    c.by("eval-submit").click()
    page.wait_for_url(re.compile(r"/console/evaluations/(?!new)[^/?#]+$"))
    cli = shutil.which("flageval-serving") or str(Path(sys.executable).parent / "flageval-serving")
    _upload_bundle(c, cli, bundle)
    _formal_run(c, public)
    # MMLU's per-subject scores unfold under its row (not 57 more columns).
    mmlu_row = c.by("metrics-table").locator('[data-testid="metrics-row"][data-dataset="mmlu"]')
    mmlu_row.locator(".ant-table-row-expand-icon").click()
    subjects = c.by("subject-scores").get_by_test_id("subject-score-row")
    expect(subjects).to_have_count(2)
    expect(subjects.and_(c.page.locator('[data-subject="anatomy"]'))).to_have_count(1)
    c.shot("formal-subject-scores")
