"""Review findings for a custom image's Dockerfile (SPEC §2 Image, guide 平台镜像审核原则).

:func:`review_dockerfile` is pure (no I/O) and never raises. Rules and severities:

========================== ======== ======================================================
rule                       severity guide / spec
========================== ======== ======================================================
``empty``                  blocking nothing to review (the Dockerfile is required)
``parse-error``            blocking ``docker build`` would reject the file
``first-instruction-from`` blocking "第一行必须为 FROM 命令 … 否则驳回镜像导入请求"
``base-image-candidate``   warning  "建议使用英伟达官方提供的镜像(nvcr.io/nvidia)… 对于其他来源的
                                    镜像,如审核人员判断存在安全风险则审核不通过" — the reviewer decides
``run-downloads``          blocking "RUN中不能有wget、curl等下载未知包的操作"
``add-remote-url``         blocking ``ADD <url>`` is the same download, done by the builder
``copy-needs-comment``     blocking "如果使用这两个命令需加上注释说明其内容"
``env-reserved``           blocking "ENV中的以下环境变量是容器给出的,不允许修改"
``openssh-server``         blocking "镜像中需要平台与后端k8s集群进行通讯,需要安装ssh"
``merge-run-layers``       hint     "减少镜像层数 … 建议使用&&来连接多个命令"
``clean-caches``           hint     "通过清理缓存减小镜像大小" (apt, yum/dnf, apk, pip, conda)
``image-size-limit``       hint     "平台对镜像大小限制:40Gi" — not checkable from a Dockerfile
========================== ======== ======================================================
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .parser import (
    Dockerfile,
    Instruction,
    expand,
    parse,
    program_name,
    simple_commands,
    split_words,
)

BLOCKING = "blocking"
WARNING = "warning"
HINT = "hint"

#: Image prefixes the platform recommends as base images (guide: 平台镜像审核原则).
CANDIDATE_PREFIXES: tuple[str, ...] = ("nvcr.io/nvidia/",)
#: Platform preset images are named ``flageval-…`` (they already contain openssh-server).
PRESET_NAME_PREFIX = "flageval-"
RESERVED_ENV_NAMES = frozenset({"HOSTNAME", "RANK"})
RESERVED_ENV_PREFIXES: tuple[str, ...] = (
    "NVIDIA_",
    "KUBERNETES_",
    "MASTER_",
    "AIRS_",
    "CUDA_",
    "NCCL_",
    "PADDLE_",
)
DOWNLOADERS = frozenset({"wget", "curl", "aria2c", "axel"})
MAX_TEXT = 1_000_000
MAX_PARSE_ERRORS = 20

_APT = frozenset({"apt-get", "apt", "aptitude"})
_YUM = frozenset({"yum", "dnf", "microdnf"})
_CONDA = frozenset({"conda", "mamba", "micromamba"})
_PIP_RE = re.compile(r"^pip(\d+(\.\d+)?)?$")
_PYTHON_RE = re.compile(r"^python(\d+(\.\d+)?)?$")
_REMOTE_RE = re.compile(r"^(https?|ftp)://|^git@|^ssh://", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    line: int  # 1-based line where the offending instruction starts (0 for whole-file findings)
    severity: str  # "blocking" | "warning" | "hint"
    rule: str  # stable id
    message: str  # what is wrong, in words
    hint: str  # how to fix it


def review_dockerfile(text: str, *, candidates: Iterable[str] | None = None) -> list[Finding]:
    """Findings for ``text`` sorted by ``(line, rule)``; never raises.

    ``candidates`` optionally adds image references (or prefixes) the platform offers as base
    images, e.g. the preset images' source URLs, to :data:`CANDIDATE_PREFIXES`.
    """
    try:
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8", errors="replace")
        elif not isinstance(text, str):
            text = "" if text is None else str(text)
        extra = tuple(str(c).strip().lower() for c in candidates or () if str(c).strip())
        findings = _Reviewer(text, extra).review()
    except Exception as exc:  # the review must never fail the request
        findings = [
            Finding(
                0,
                BLOCKING,
                "parse-error",
                f"The Dockerfile could not be reviewed automatically ({type(exc).__name__}).",
                "Check the Dockerfile syntax; a reviewer will read it by hand.",
            )
        ]
    return sorted(findings, key=lambda f: (f.line, f.rule))


@dataclass
class _Stage:
    index: int
    name: str | None
    line: int
    image: str  # expanded reference ("" when unresolved)
    parent: int | None  # index of the stage it builds on
    preset: bool = False
    installs_ssh: bool = False
    pip_no_cache: bool = False


def _normalise_image(image: str) -> str:
    ref = image.strip().lower()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    return ref


def _repository_name(ref: str) -> str:
    path = ref.split("@", 1)[0]
    last = path.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


class _Reviewer:
    def __init__(self, text: str, candidates: tuple[str, ...]) -> None:
        self.text = text
        self.candidates = CANDIDATE_PREFIXES + candidates
        self.findings: list[Finding] = []
        self.stages: list[_Stage] = []
        self.global_args: dict[str, str] = {}

    def add(self, line: int, severity: str, rule: str, message: str, hint: str) -> None:
        self.findings.append(Finding(line, severity, rule, message, hint))

    # --- driver -----------------------------------------------------------------------------

    def review(self) -> list[Finding]:
        if "\x00" in self.text or len(self.text) > MAX_TEXT:
            why = "contains NUL bytes" if "\x00" in self.text else "is too large"
            self.add(
                0,
                BLOCKING,
                "parse-error",
                f"The Dockerfile {why}; it is not a text Dockerfile.",
                "Paste the Dockerfile the image was built from as plain text.",
            )
            return self.findings
        df = parse(self.text)
        if not df.instructions and not df.errors:
            self.add(
                0,
                BLOCKING,
                "empty",
                "The Dockerfile has no instructions (it is empty or only comments).",
                "Paste the Dockerfile the image was built from, starting with FROM.",
            )
            return self.findings
        for error in df.errors[:MAX_PARSE_ERRORS]:
            self.add(
                error.line,
                BLOCKING,
                "parse-error",
                f"Syntax error: {error.message}.",
                "Fix the line so that `docker build` accepts the Dockerfile.",
            )
        if len(df.errors) > MAX_PARSE_ERRORS:
            self.add(
                0,
                BLOCKING,
                "parse-error",
                f"{len(df.errors) - MAX_PARSE_ERRORS} more syntax errors are not listed.",
                "Fix the syntax errors so that `docker build` accepts the Dockerfile.",
            )
        if not df.instructions:
            return self.findings
        self.check_first_instruction(df)
        self.walk(df)
        self.check_openssh()
        self.add(
            0,
            HINT,
            "image-size-limit",
            "The platform accepts images up to 40 GiB; the size cannot be checked from the Dockerfile.",
            "Keep the image small: merge RUN layers, clean package caches, avoid copying large files.",
        )
        return self.findings

    def check_first_instruction(self, df: Dockerfile) -> None:
        for instr in df.instructions:
            if instr.keyword == "ARG":
                continue
            if instr.keyword != "FROM":
                has_from = any(i.keyword == "FROM" for i in df.instructions)
                self.add(
                    instr.line,
                    BLOCKING,
                    "first-instruction-from",
                    f"The first instruction is {instr.keyword}, not FROM"
                    + ("." if has_from else "; the Dockerfile has no FROM at all."),
                    "Start the Dockerfile with `FROM <base image>` (only parser directives, "
                    "comments and ARG may come before it).",
                )
            return
        self.add(
            0,
            BLOCKING,
            "first-instruction-from",
            "The Dockerfile has no FROM instruction.",
            "Start the Dockerfile with `FROM <base image>`.",
        )

    def walk(self, df: Dockerfile) -> None:
        run_group: list[Instruction] = []
        prev: Instruction | None = None
        prev_copy_explained = False
        for instr in df.instructions:
            if instr.keyword == "ONBUILD":
                inner = self.onbuild_inner(instr, df.escape)
                if inner is not None:
                    self.check_content(inner, df, covered=False)
            if instr.keyword == "RUN":
                run_group.append(instr)
            else:
                self.flush_run_group(run_group)
                run_group = []
            if instr.keyword == "ARG" and not self.stages:
                for word in split_words(instr.rest, df.escape):
                    name, sep, value = word.partition("=")
                    if sep:
                        self.global_args[name] = value
                    else:
                        self.global_args.setdefault(name, "")
            elif instr.keyword == "FROM":
                self.on_from(instr, df.escape)
            covered = (
                prev is not None
                and prev.keyword in ("COPY", "ADD")
                and prev_copy_explained
                and instr.line == prev.end_line + 1
            )
            explained = self.check_content(instr, df, covered=covered)
            prev, prev_copy_explained = instr, explained
        self.flush_run_group(run_group)

    def onbuild_inner(self, instr: Instruction, escape: str) -> Instruction | None:
        prefix = "" if escape == "\\" else "# escape=`\n"
        inner = parse(prefix + instr.rest).instructions
        if not inner or inner[0].keyword not in ("RUN", "ENV", "COPY", "ADD"):
            return None
        return dataclasses.replace(
            inner[0], line=instr.line, end_line=instr.end_line, comments_above=instr.comments_above
        )

    def check_content(self, instr: Instruction, df: Dockerfile, *, covered: bool) -> bool:
        """Rules on one instruction's content; returns whether a COPY/ADD is explained."""
        if instr.keyword == "RUN":
            self.check_run(instr)
        elif instr.keyword == "ENV":
            self.check_env(instr, df.escape)
        elif instr.keyword in ("COPY", "ADD"):
            return self.check_copy(instr, df.escape, covered=covered)
        return False

    # --- FROM -------------------------------------------------------------------------------

    def on_from(self, instr: Instruction, escape: str) -> None:
        words = split_words(instr.rest, escape)
        name: str | None = None
        if len(words) == 3 and words[1].lower() == "as":
            name = words[2].lower()
        elif len(words) != 1:
            self.add(
                instr.line,
                BLOCKING,
                "parse-error",
                "Syntax error: FROM takes an image and optionally `AS <name>`.",
                "Write `FROM <image>[:<tag>] [AS <name>]`.",
            )
        raw = words[0] if words else ""
        image, resolved = expand(raw, self.global_args)
        ref = _normalise_image(image)
        parent = self.stage_index(ref)
        stage = _Stage(len(self.stages), name, instr.line, ref if resolved else "", parent)
        if parent is not None:
            stage.preset = self.stages[parent].preset
            stage.pip_no_cache = self.stages[parent].pip_no_cache
        self.stages.append(stage)
        if parent is not None:
            return  # a previous build stage, not an external image
        final_note = "" if stage.index == 0 else f" (build stage {stage.index})"
        if not resolved or not ref:
            self.add(
                instr.line,
                WARNING,
                "base-image-candidate",
                f"The base image {raw!r}{final_note} depends on a build argument without a "
                "default, so it cannot be checked.",
                "Give the ARG a default or write the image reference in FROM directly, e.g. "
                "`FROM nvcr.io/nvidia/pytorch:23.03-py3`.",
            )
            return
        stage.preset = _repository_name(ref).startswith(PRESET_NAME_PREFIX)
        if stage.preset or any(ref.startswith(c) or ref == c for c in self.candidates):
            return
        self.add(
            instr.line,
            WARNING,
            "base-image-candidate",
            f"The base image {image!r}{final_note} is not a platform-provided candidate "
            "(platform presets or NVIDIA's official nvcr.io/nvidia/… images); "
            "the reviewer will judge its security.",
            "Prefer a platform preset image or an nvcr.io/nvidia/… image, e.g. "
            "`FROM nvcr.io/nvidia/pytorch:23.03-py3` for PyTorch.",
        )

    def stage_index(self, ref: str) -> int | None:
        if not ref:
            return None
        for stage in self.stages:
            if stage.name is not None and stage.name == ref:
                return stage.index
        return None

    # --- RUN --------------------------------------------------------------------------------

    def run_commands(self, instr: Instruction) -> list[list[str]]:
        if instr.json_args is not None:
            words = list(instr.json_args)
            commands = [words] if words else []
            if words and program_name(words[0]) in ("sh", "bash") and "-c" in words[1:]:
                pos = words.index("-c", 1)
                if pos + 1 < len(words):
                    commands.extend(simple_commands(words[pos + 1]))
            return commands
        commands = simple_commands(instr.rest)
        if instr.heredocs:
            head = instr.rest.strip()
            first = commands[0][0] if commands and commands[0] else ""
            if head.startswith("<<") or program_name(first) in ("sh", "bash", "dash", "zsh"):
                for heredoc in instr.heredocs:
                    commands.extend(simple_commands(heredoc.body))
        return commands

    def check_run(self, instr: Instruction) -> None:
        commands = self.run_commands(instr)
        tools = sorted({program_name(c[0]) for c in commands if program_name(c[0]) in DOWNLOADERS})
        if tools:
            self.add(
                instr.line,
                BLOCKING,
                "run-downloads",
                f"RUN downloads with {', '.join(tools)}; the platform forbids downloading "
                "unknown packages in RUN.",
                "Install packages with the system package manager or pip/conda from a known "
                "index, or bake the file into a reviewed base image instead of downloading it.",
            )
        stage = self.stages[-1] if self.stages else None
        if stage is not None and self.installs_ssh(commands):
            stage.installs_ssh = True
        issues = self.cache_issues(commands, stage)
        if issues:
            self.add(
                instr.line,
                HINT,
                "clean-caches",
                "Package caches stay in this layer: " + "; ".join(issues) + ".",
                "Clean caches in the same RUN, e.g. `&& rm -rf /var/lib/apt/lists/*`, "
                "`pip install --no-cache-dir …`, `&& conda clean -y --all`.",
            )

    @staticmethod
    def installs_ssh(commands: list[list[str]]) -> bool:
        for words in commands:
            prog = program_name(words[0])
            args = [w.lower() for w in words[1:]]
            installing = (
                (prog in _APT | _YUM | {"zypper"} and "install" in args)
                or (prog == "apk" and "add" in args)
                or (prog in _CONDA and ("install" in args or "create" in args))
            )
            if not installing:
                continue
            for arg in args:
                package = re.split(r"[=<>:]", arg, maxsplit=1)[0]
                if package in ("openssh-server", "openssh") or arg.startswith("openssh-server"):
                    return True
        return False

    @staticmethod
    def cache_issues(commands: list[list[str]], stage: _Stage | None) -> list[str]:
        progs = [(program_name(c[0]), [w.lower() for w in c[1:]]) for c in commands]
        removed = " ".join(" ".join(a) for p, a in progs if p == "rm")

        def cleaned(family: frozenset[str]) -> bool:
            return any(p in family and "clean" in a for p, a in progs)

        issues: list[str] = []
        if any(p in _APT and ("install" in a or "update" in a) for p, a in progs):
            if not cleaned(_APT) and "/var/lib/apt/lists" not in removed:
                issues.append("apt lists are not removed")
        if any(p in _YUM and "install" in a for p, a in progs):
            if not cleaned(_YUM) and "/var/cache/" not in removed:
                issues.append("the yum/dnf cache is not cleaned")
        if any(p == "apk" and "add" in a and "--no-cache" not in a for p, a in progs):
            if "/var/cache/apk" not in removed:
                issues.append("apk add without --no-cache")
        pip_installs = [
            a
            for p, a in progs
            if (_PIP_RE.match(p) and "install" in a)
            or (_PYTHON_RE.match(p) and "pip" in a and "install" in a)
        ]
        purged = ".cache/pip" in removed or any(
            _PIP_RE.match(p) and a[:2] == ["cache", "purge"] for p, a in progs
        )
        no_cache = stage is not None and stage.pip_no_cache
        if not no_cache and not purged and any("--no-cache-dir" not in a for a in pip_installs):
            issues.append("pip install without --no-cache-dir")
        if any(p in _CONDA and ("install" in a or "create" in a) for p, a in progs):
            if not cleaned(_CONDA):
                issues.append("conda install without conda clean")
        return issues

    def flush_run_group(self, group: list[Instruction]) -> None:
        if len(group) < 2:
            return
        lines = ", ".join(str(i.line) for i in group)
        self.add(
            group[0].line,
            HINT,
            "merge-run-layers",
            f"{len(group)} consecutive RUN instructions (lines {lines}) each create a layer.",
            "Join them into one RUN with `&&` and line continuations to reduce layers and size.",
        )

    # --- ENV --------------------------------------------------------------------------------

    def check_env(self, instr: Instruction, escape: str) -> None:
        words = split_words(instr.rest, escape)
        if not words:
            return
        if "=" in words[0]:
            names = [w.split("=", 1)[0] for w in words if "=" in w]
        else:
            names = [words[0]]  # legacy form: ENV NAME value
        if self.stages and any(n == "PIP_NO_CACHE_DIR" for n in names):
            self.stages[-1].pip_no_cache = True
        reserved = [
            n for n in names if n in RESERVED_ENV_NAMES or n.startswith(RESERVED_ENV_PREFIXES)
        ]
        if reserved:
            self.add(
                instr.line,
                BLOCKING,
                "env-reserved",
                f"ENV sets {', '.join(dict.fromkeys(reserved))}, which the platform's container "
                "provides and must not be changed (NVIDIA_*, HOSTNAME, KUBERNETES_*, RANK, "
                "MASTER_*, AIRS_*, CUDA_*, NCCL_*, PADDLE_*).",
                "Remove these variables from ENV; set them in your start script if you really "
                "need a different value at run time.",
            )

    # --- COPY / ADD -------------------------------------------------------------------------

    def check_copy(self, instr: Instruction, escape: str, *, covered: bool) -> bool:
        sources: list[str]
        if instr.json_args is not None:
            sources = list(instr.json_args[:-1])
        else:
            sources = split_words(instr.rest, escape)[:-1]
        if instr.keyword == "ADD":
            remote = [s for s in sources if _REMOTE_RE.match(s)]
            if remote:
                self.add(
                    instr.line,
                    BLOCKING,
                    "add-remote-url",
                    f"ADD downloads {remote[0]!r}; downloading unknown files into the image is "
                    "forbidden.",
                    "Use a reviewed base image or install the package with the system package "
                    "manager instead of ADD <url>.",
                )
        explained = covered or any(c.text for c in instr.comments_above + instr.inner_comments)
        source_stage = instr.flag("from")
        if source_stage is not None:
            value = source_stage.lower()
            if value.isdigit() or any(s.name == value for s in self.stages):
                return explained  # content built by this Dockerfile: nothing hidden
        if instr.heredocs:
            return explained  # inline content: the reviewer reads it
        if not explained:
            self.add(
                instr.line,
                BLOCKING,
                "copy-needs-comment",
                f"{instr.keyword} has no comment explaining what it puts into the image.",
                f"Avoid {instr.keyword} where possible; otherwise add a comment line directly "
                f"above it, e.g. `# evaluation scripts of our model` then `{instr.keyword} …`.",
            )
        return explained

    # --- whole file -------------------------------------------------------------------------

    def check_openssh(self) -> None:
        if not self.stages:
            return
        stage: _Stage | None = self.stages[-1]
        seen: set[int] = set()
        while stage is not None and stage.index not in seen:
            seen.add(stage.index)
            if stage.installs_ssh or stage.preset:
                return
            stage = self.stages[stage.parent] if stage.parent is not None else None
        self.add(
            0,
            BLOCKING,
            "openssh-server",
            "The final image does not install openssh-server; the platform talks to the "
            "container over ssh from its Kubernetes cluster.",
            "Add `RUN apt-get update && apt-get install -y openssh-server && mkdir -p /run/sshd "
            "&& rm -rf /var/lib/apt/lists/*` (or start from a platform preset image).",
        )
