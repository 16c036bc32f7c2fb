"""The sandbox every process that runs uploaded code starts in (SPEC §11, README "Security model").

Uploaded code (an NLP ``service.py`` served by ``flageval-serving``; later CV adapters,
multimodal ``run.sh`` and audio wrappers) is hostile until proven otherwise. The runner, which
is platform code, holds the run's progress token and computes the scores; user code must reach
neither. With ``FLAGEVAL_SANDBOX=bwrap`` (the default) a user process is started by
`bubblewrap <https://github.com/containers/bubblewrap>`_ with:

- an empty root (tmpfs) holding only ``/usr``, ``/bin``, ``/lib*``, ``/sbin`` and a few ``/etc``
  files of the host, read-only, and the Python environment that has ``flageval-serving`` at
  ``/opt/flageval/env``, read-only;
- the bundle at ``/bundle`` (read-only, the working directory), a writable ``/scratch`` of its
  own (``HOME``), an output folder ``/output`` where a domain needs one, ``/model`` where the
  model server binds its Unix socket, and a private ``/tmp``;
- its own PID namespace (a new ``/proc``: the runner's ``/proc/<pid>/environ`` is not there),
  its own network namespace (loopback only: no platform API, database or broker in reach),
  IPC and UTS namespaces, a new session, and ``--die-with-parent``;
- a clean environment: nothing of the runner's (never the run token, the secret key, database,
  broker or storage URLs);
- at most ``FLAGEVAL_SANDBOX_MAX_PROCESSES`` processes and threads of its uid (``prlimit``), no
  core dumps, the highest OOM score (``choom -n 1000``: out of memory, user code dies first,
  never the platform), and a ``/dev/shm`` of its own;
- its own unprivileged uid: when the platform runs as root, bwrap sets up the mounts as root
  and ``setpriv`` drops to ``FLAGEVAL_SANDBOX_UID``:``FLAGEVAL_SANDBOX_GID`` (default
  65534:65534, "nobody") with no capabilities, no supplementary groups and ``no_new_privs``;
  as any other user, bwrap runs unprivileged in a user namespace (uid 65534 inside; on the host
  the platform's uid, with nothing of the data directory mounted).

``FLAGEVAL_SANDBOX=none`` is the operator's explicit opt-out (a warning is logged for every
process): user code then runs as the platform's user with the host's file system, but still
with a clean environment and the same Unix-socket protocol. When bwrap is missing or cannot
create its namespaces, :class:`SandboxError` says so and the run fails as a platform fault.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["Sandbox", "SandboxError", "SandboxSettings"]

BUNDLE = "/bundle"
SCRATCH = "/scratch"
OUTPUT = "/output"
MODEL_IO = "/model"
ENV_MOUNT = "/opt/flageval/env"
MODES = ("bwrap", "none")
#: Host files a Python program needs from /etc (no passwd/shadow, no platform configuration).
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "ssl",
    "ca-certificates",
    "mime.types",
    "alternatives",
)
#: Variables of the runner's environment a user process may see (GPU selection only).
PASSED_ENV = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES")
SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"
CHOOM = "/usr/bin/choom"


class SandboxError(Exception):
    """The sandbox could not be set up: a platform fault, never the user's."""


@dataclass(frozen=True)
class SandboxSettings:
    """How user processes are confined (``FLAGEVAL_SANDBOX``, ``FLAGEVAL_SANDBOX_UID``,
    ``FLAGEVAL_SANDBOX_GID``, ``FLAGEVAL_BWRAP``)."""

    mode: str = "bwrap"
    uid: int = 65534
    gid: int = 65534
    bwrap: str = "bwrap"
    max_processes: int = 8192

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SandboxSettings:
        env = os.environ if environ is None else environ
        mode = (env.get("FLAGEVAL_SANDBOX") or "bwrap").strip().lower()
        if mode not in MODES:
            raise SandboxError(
                f"FLAGEVAL_SANDBOX={mode!r} is not one of {', '.join(MODES)} "
                "(bwrap: the default; none: run user code unconfined — not recommended)"
            )
        try:
            uid = int(env.get("FLAGEVAL_SANDBOX_UID") or 65534)
            gid = int(env.get("FLAGEVAL_SANDBOX_GID") or 65534)
            nproc = int(env.get("FLAGEVAL_SANDBOX_MAX_PROCESSES") or 8192)
        except ValueError as exc:
            raise SandboxError(
                f"FLAGEVAL_SANDBOX_UID/GID/MAX_PROCESSES must be integers: {exc}"
            ) from None
        if uid <= 0 or gid <= 0:
            raise SandboxError("FLAGEVAL_SANDBOX_UID/GID must name an unprivileged user (> 0)")
        if nproc < 16:
            raise SandboxError("FLAGEVAL_SANDBOX_MAX_PROCESSES must be at least 16")
        return cls(
            mode=mode,
            uid=uid,
            gid=gid,
            bwrap=env.get("FLAGEVAL_BWRAP") or "bwrap",
            max_processes=nproc,
        )


def _python_env() -> tuple[Path, Path]:
    """(prefix, base prefix) of the interpreter that has flageval-serving installed."""
    return Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()


class Sandbox:
    """One confined place for one user process: ``root`` (a private folder of the runner's,
    never shown to the user process) holds its ``scratch``, ``output`` and ``model`` folders.

    :meth:`command` turns an argv meant to run inside into the host command line;
    :meth:`host_path` maps a path inside to the host (the model's socket); :meth:`scrub` takes
    the runner's host paths out of text a user will read."""

    def __init__(self, settings: SandboxSettings, root: Path) -> None:
        self.settings = settings
        self.root = Path(root)
        self.confined = settings.mode == "bwrap"
        self.as_root = os.geteuid() == 0
        self._bundle: Path | None = None
        self._python_prefix, self._python_base = _python_env()

    # -- paths --------------------------------------------------------------------------------
    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def model_io(self) -> Path:
        return self.root / "model"

    def inside(self, which: str) -> str:
        """The path a user process sees for ``bundle``/``scratch``/``output``/``model``."""
        confined = {"bundle": BUNDLE, "scratch": SCRATCH, "output": OUTPUT, "model": MODEL_IO}
        if self.confined:
            return confined[which]
        host = {
            "bundle": self._bundle or self.root / "bundle",
            "scratch": self.scratch,
            "output": self.output,
            "model": self.model_io,
        }
        return str(host[which])

    def host_path(self, inside: str) -> Path:
        """The host path of ``inside`` (one of the writable folders, or below them)."""
        if ".." in Path(inside).parts:
            raise ValueError(f"not a sandbox path: {inside!r}")
        for name, host in (
            (SCRATCH, self.scratch),
            (OUTPUT, self.output),
            (MODEL_IO, self.model_io),
        ):
            if self.confined and (inside == name or inside.startswith(name + "/")):
                return host / inside[len(name) :].lstrip("/")
        return Path(inside)

    @property
    def python(self) -> str:
        """The interpreter a user process runs (inside its view of the file system)."""
        if not self.confined:
            return sys.executable
        if self._python_prefix != self._python_base:
            return f"{ENV_MOUNT}/bin/python"
        return str(Path(sys.executable).resolve())

    # -- set-up ---------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`SandboxError` unless a confined process can start here."""
        if not self.confined:
            return
        if shutil.which(self.settings.bwrap) is None:
            raise SandboxError(
                "the sandbox for user code could not be set up: bubblewrap (bwrap) is not "
                "installed on this machine (Debian/Ubuntu: apt-get install bubblewrap); an "
                "operator may run user code unconfined with FLAGEVAL_SANDBOX=none (not recommended)"
            )
        for tool in (PRLIMIT, CHOOM, *((SETPRIV,) if self.as_root else ())):
            if not Path(tool).exists():
                raise SandboxError(f"the sandbox for user code needs {tool} (util-linux)")
        argv = self._bwrap_argv(["/bin/true"], {}, cwd="/", bundle=None)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=30, env={}, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxError(f"the sandbox for user code could not be set up: {exc}") from exc
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise SandboxError(
                "the sandbox for user code could not be set up: bwrap failed "
                f"({reason[0]}); user and PID namespaces must be allowed on this machine"
            )

    def prepare(self, bundle: Path) -> None:
        """Create the writable folders (owned by the sandbox uid when the runner is root) and
        make the bundle readable by that uid (its host parents stay private to the runner)."""
        self._bundle = Path(bundle).resolve()
        self.root = self.root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for folder in (self.scratch, self.output, self.model_io):
            folder.mkdir(exist_ok=True)
            os.chmod(folder, 0o700)
            if self.confined and self.as_root:
                os.chown(folder, self.settings.uid, self.settings.gid)
        if self.confined and self.as_root:
            _readable_by_all(self._bundle)

    # -- command line -----------------------------------------------------------------------
    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a user process: nothing of the runner's but GPU selection."""
        path = "/usr/local/bin:/usr/bin:/bin"
        if self._python_prefix != self._python_base:
            path = f"{Path(self.python).parent}:{path}"
        env = {
            "PATH": path,
            "HOME": self.inside("scratch"),
            "TMPDIR": "/tmp" if self.confined else str(self.scratch),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "FLAGEVAL_OUTPUT_DIR": self.inside("output"),
        }
        env.update({k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)})
        env.update(extra or {})
        return env

    def command(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str = BUNDLE
    ) -> tuple[list[str], dict[str, str], str]:
        """(host argv, host environment, host cwd) that run ``argv`` confined."""
        environment = self.environment(env)
        if not self.confined:
            logger.warning(
                "FLAGEVAL_SANDBOX=none: user code runs unconfined as the platform's user"
            )
            host_cwd = str(self._bundle) if cwd == BUNDLE and self._bundle else cwd
            oom_first = [CHOOM, "-n", "1000", "--"] if Path(CHOOM).exists() else []
            return [*oom_first, *argv], environment, host_cwd
        return self._bwrap_argv(argv, environment, cwd=cwd, bundle=self._bundle), {}, "/"

    def _bwrap_argv(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: str,
        bundle: Path | None,
    ) -> list[str]:
        s = self.settings
        out = [
            s.bwrap,
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            "--clearenv",
        ]
        if not self.as_root:
            out += ["--unshare-user", "--uid", str(s.uid), "--gid", str(s.gid)]
        out += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            host = Path("/") / name
            if host.is_symlink():
                out += ["--symlink", os.readlink(host), f"/{name}"]
            elif host.is_dir():
                out += ["--ro-bind", str(host), f"/{name}"]
        for name in ETC_FILES:
            if (Path("/etc") / name).exists():
                out += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        out += ["--proc", "/proc", "--dev", "/dev"]
        for device in sorted(Path("/dev").glob("nvidia*")):
            out += ["--dev-bind", str(device), str(device)]
        # /dev/shm for POSIX semaphores and shared memory (multiprocessing, DataLoader workers).
        out += ["--perms", "1777", "--tmpfs", "/dev/shm", "--perms", "1777", "--tmpfs", "/tmp"]
        if self._python_prefix != self._python_base:
            out += [*_searchable_parents(Path(ENV_MOUNT)), "--ro-bind", str(self._python_prefix)]
            out.append(ENV_MOUNT)
        if not _under(self._python_base, Path("/usr")):
            # An interpreter outside /usr (pyenv, uv) is seen at its own path.
            base = str(self._python_base)
            out += [*_searchable_parents(self._python_base), "--ro-bind", base, base]
        if bundle is not None:
            out += ["--ro-bind", str(bundle), BUNDLE]
            for host, inside in (
                (self.scratch, SCRATCH),
                (self.output, OUTPUT),
                (self.model_io, MODEL_IO),
            ):
                out += ["--bind", str(host), inside]
        out += ["--remount-ro", "/", "--chdir", cwd]
        for key, value in env.items():
            out += ["--setenv", key, value]
        out.append("--")
        # A fork bomb stops at this many processes and threads of the sandbox uid; when memory
        # runs out, the kernel's OOM killer takes user code first, not the platform.
        out += [PRLIMIT, f"--nproc={s.max_processes}", "--core=0", "--"]
        out += [CHOOM, "-n", "1000", "--"]
        if self.as_root:
            out += [
                SETPRIV,
                f"--reuid={s.uid}",
                f"--regid={s.gid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
        out += list(argv)
        return out

    # -- messages -----------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """``text`` with the runner's host paths replaced by what the user knows them as."""
        replacements = []
        if self._bundle is not None:
            replacements.append((str(self._bundle), BUNDLE))
        replacements += [
            (str(self.scratch), SCRATCH),
            (str(self.output), OUTPUT),
            (str(self.model_io), MODEL_IO),
            (str(self.root), "<sandbox>"),
        ]
        if self._python_prefix != self._python_base:
            replacements.append((str(self._python_prefix), ENV_MOUNT))
        for host, shown in replacements:
            text = text.replace(host, shown)
        return text


def _searchable_parents(path: Path) -> list[str]:
    """bwrap options creating ``path``'s parents searchable by everyone (bwrap would create
    them private to root, which the sandbox uid could not enter)."""
    out: list[str] = []
    for parent in reversed(path.parents):
        if parent != Path("/"):
            out += ["--perms", "0755", "--dir", str(parent)]
    return out


def _under(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _readable_by_all(top: Path) -> None:
    """Add read (and, on folders, search) permission for everyone below ``top``; the runner's
    private parent folders keep other host users out."""
    for dirpath, dirnames, filenames in os.walk(top):
        os.chmod(dirpath, stat.S_IMODE(os.stat(dirpath).st_mode) | 0o555)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | 0o444)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
