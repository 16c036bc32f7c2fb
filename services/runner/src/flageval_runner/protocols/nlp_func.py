"""NLP private deployment (SPEC §5): the user's bundle served by the real ``flageval-serving`` CLI.

``BundleServer`` starts ``flageval-serving --service service.py run model`` in the bundle directory,
inside the sandbox (gunicorn; ``local_guniconf.py`` may set ``workers``; the bind address is the
platform's: a Unix socket, since the sandbox has no network), waits for gunicorn's
``Listening at: unix:PATH`` line and until the app answers HTTP.
``NLPFuncClient`` sends ``POST {base_url}/func`` and reads ``completions[0].text``; a base URL
``unix:PATH`` means HTTP over that Unix socket (what :meth:`BundleServer.start` returns).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import tempfile
from pathlib import Path
from typing import Any

import httpx

from ..sandbox import Sandbox, SandboxError, SandboxSettings
from .base import (
    Generation,
    GenerationRequest,
    JsonPoster,
    ModelError,
    RetryableError,
    describe,
    post_json,
    truncate,
    with_retries,
)

logger = logging.getLogger(__name__)

__all__ = ["BundleServer", "NLPFuncClient"]


class NLPFuncClient:
    """Client of a bundle's ``/func`` endpoint with bounded concurrency, timeouts and retries."""

    def __init__(
        self,
        base_url: str,
        *,
        concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        engine: str = "flageval",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.base_url = base_url.rstrip("/")
        unix_socket = None
        if self.base_url.startswith("unix:"):
            unix_socket = self.base_url[len("unix:") :]
            self.url = "http://model/func"
        else:
            self.url = f"{self.base_url}/func"
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.engine = engine
        self._sem = asyncio.Semaphore(concurrency)
        self._client = JsonPoster(concurrency=concurrency, timeout=timeout, unix_socket=unix_socket)

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body: every field the CLI's ``NLPModelService.parse_request`` requires."""
        return {
            "engine": self.engine,
            "prompt": request.prompt,
            "temperature": request.temperature,
            "num_return_sequences": request.num_return_sequences,
            "max_new_tokens": request.max_new_tokens,
            "top_p": request.top_p,
            "echo_prompt": request.echo_prompt,
            "top_k_per_token": request.top_k_per_token,
            "stop_sequences": list(request.stop_sequences),
        }

    async def generate(self, request: GenerationRequest) -> Generation:
        body = self.payload(request)
        return await with_retries(
            request,
            lambda: self._once(request, body),
            semaphore=self._sem,
            retries=self.retries,
            backoff=self.backoff,
            what="model /func",
            log=logger,
        )

    async def _once(self, request: GenerationRequest, body: dict[str, Any]) -> Generation:
        resp, data = await post_json(self._client, self.url, body, timeout_seconds=self.timeout)
        if resp.status_code >= 500 or (isinstance(data, dict) and data.get("code") == 500):
            message = data.get("message") if isinstance(data, dict) else None
            text = message if message is not None else truncate(resp.text)
            raise RetryableError(f"HTTP {resp.status_code}: {text}")
        if resp.status_code >= 400:
            raise ModelError(
                f"model rejected the request for {describe(request)}: "
                f"HTTP {resp.status_code}: {truncate(resp.text)}"
            )
        if not isinstance(data, dict):
            raise ModelError(
                f"malformed reply from model for {describe(request)}: not a JSON object: "
                f"{truncate(resp.text)!r}"
            )
        completions = data.get("completions")
        if not isinstance(completions, list) or not completions:
            raise ModelError(
                f"malformed reply from model for {describe(request)}: no completions in "
                f"{truncate(resp.text)!r}"
            )
        first = completions[0]
        text = first.get("text") if isinstance(first, dict) else None
        if not isinstance(text, str):
            raise ModelError(
                f"malformed reply from model for {describe(request)}: completions[0].text "
                f"missing or not a string in {truncate(resp.text)!r}"
            )
        return Generation(text=text, raw=data)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> NLPFuncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_LISTENING = re.compile(r"Listening at: unix:(\S+)")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)|Exception)\b(:.*)?$")


class BundleServer:
    """Runs a user's NLP bundle with the real ``flageval-serving`` CLI, in the sandbox.

    The model server runs confined (:mod:`flageval_runner.sandbox`): no network of its own, so
    gunicorn binds a Unix socket in the sandbox's ``/model`` folder (``GUNICORN_CMD_ARGS``
    outranks ``local_guniconf.py``, whose ``workers`` still count). Once gunicorn says it is
    listening, the socket is pinned by an ``O_PATH`` descriptor (a symlink put in its place
    later cannot redirect the runner), and :meth:`start` returns ``unix:<path>`` for
    :class:`NLPFuncClient`. ``sandbox``: default, one from the environment
    (``FLAGEVAL_SANDBOX``) in a temporary folder removed by :meth:`stop`. ``env``: extra
    variables for the model process (nothing of the runner's environment reaches it).
    """

    def __init__(
        self,
        bundle_dir: Path | str,
        *,
        startup_timeout: float = 120.0,
        service: str = "service.py",
        model: str = "model",
        stop_timeout: float = 10.0,
        env: dict[str, str] | None = None,
        log_lines: int = 2000,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.startup_timeout = startup_timeout
        self.service = service
        self.model = model
        self.stop_timeout = stop_timeout
        self.extra_env = dict(env or {})
        self.sandbox = sandbox
        self._own_sandbox_root: Path | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=log_lines)
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._bound: str | None = None
        self._socket_inside: str | None = None
        self._socket_fd: int | None = None
        self.base_url: str | None = None

    # -- logs -------------------------------------------------------------------------------
    def log_tail(self, n: int = 40) -> str:
        lines = list(self._log)[-n:]
        return "\n".join(lines)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def _read_log(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line over the stream limit: take what is there
                raw = await stream.read(65536)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if self._bound is None:
                m = _LISTENING.search(line)
                if m:
                    self._bound = m.group(1)
                    self._listening.set()
            if self.sandbox is not None:
                line = self.sandbox.scrub(line)
            self._log.append(line)
            logger.debug("bundle: %s", line)

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> str:
        if self._proc is not None:
            raise RuntimeError("BundleServer already started")
        if not (self.bundle_dir / self.service).is_file():
            raise ModelError(f"the bundle has no {self.service}")
        sandbox = self.sandbox
        if sandbox is None:
            self._own_sandbox_root = Path(tempfile.mkdtemp(prefix="flageval-sandbox-"))
            sandbox = self.sandbox = Sandbox(SandboxSettings.from_environ(), self._own_sandbox_root)
        await asyncio.to_thread(sandbox.check)
        await asyncio.to_thread(sandbox.prepare, self.bundle_dir)
        socket_inside = self._socket_inside = f"{sandbox.inside('model')}/model.sock"
        inside_argv = [
            sandbox.python,
            "-c",  # the console script's shebang names the host's path; its __main__ is inert
            "from flageval.serving.cli import main; main()",
            "--service",
            self.service,
            "run",
            self.model,
        ]
        extra = dict(self.extra_env)
        extra["GUNICORN_CMD_ARGS"] = f"--bind unix:{socket_inside}"
        argv, env, cwd = sandbox.command(inside_argv, env=extra)
        logger.info(
            "starting the model service (flageval-serving --service %s run %s)%s",
            self.service,
            self.model,
            " in the sandbox" if sandbox.confined else " UNCONFINED (FLAGEVAL_SANDBOX=none)",
        )
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                limit=1 << 20,
            )
        except OSError as exc:
            raise SandboxError(f"could not start the sandbox ({argv[0]}): {exc}") from exc
        self._reader = asyncio.create_task(self._read_log())
        try:
            self.base_url = await asyncio.wait_for(self._wait_ready(), self.startup_timeout)
        except TimeoutError:
            reason = (
                f"did not answer HTTP within {self.startup_timeout:g}s"
                if self._bound
                else f"never started listening within {self.startup_timeout:g}s"
            )
            await self._fail(reason)
        except ModelError as exc:
            await self._fail(str(exc))
        assert self.base_url is not None
        logger.info("model service ready")
        return self.base_url

    async def _fail(self, reason: str) -> None:
        await self.stop()
        tail = self.log_tail(40)
        raise ModelError(f"model service failed to start: {reason}\n--- last log lines ---\n{tail}")

    async def _wait_exit_or(self, aw: asyncio.Future[Any] | asyncio.Task[Any]) -> bool:
        """Wait for ``aw`` or the process exiting; True if ``aw`` finished first."""
        assert self._proc is not None
        exited = asyncio.ensure_future(self._proc.wait())
        done, _ = await asyncio.wait({aw, exited}, return_when=asyncio.FIRST_COMPLETED)
        if aw in done:
            exited.cancel()
            return True
        return False

    async def _wait_ready(self) -> str:
        assert self._proc is not None
        listening = asyncio.ensure_future(self._listening.wait())
        try:
            if not await self._wait_exit_or(listening):
                await self._drain()
                raise ModelError(self._exit_reason())
        finally:
            listening.cancel()
        assert self._socket_inside is not None and self.sandbox is not None
        # The socket the platform told gunicorn to bind, never the path a log line names: the
        # bundle's own output shares that stream and could name any socket on the host.
        host_socket = self.sandbox.host_path(self._socket_inside)
        # The master binds before the workers import service.py and run global_init; a request
        # waits in the backlog until a worker accepts it or the master exits.
        while True:
            if self._proc.returncode is not None:
                await self._drain()
                raise ModelError(self._exit_reason())
            pinned = self._pin_socket(host_socket)
            if pinned is None:
                await asyncio.sleep(0.1)
                continue
            transport = httpx.AsyncHTTPTransport(uds=pinned)
            async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0)) as client:
                probe = asyncio.ensure_future(client.get("http://model/func"))
                try:
                    answered = await self._wait_exit_or(probe)
                finally:  # also when start() is cancelled or times out: never orphan the probe
                    if not probe.done():
                        probe.cancel()
                    with contextlib.suppress(BaseException):
                        await probe
            if not answered:
                await self._drain()
                raise ModelError(self._exit_reason())
            try:
                probe.result()
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
                continue
            return f"unix:{pinned}"  # any HTTP answer (405 for GET /func): the app is serving

    def _pin_socket(self, host_socket: Path) -> str | None:
        """``/proc/self/fd/N`` of an ``O_PATH`` descriptor on the model's socket (``None`` while
        it does not exist yet); refuses anything that is not a socket, symlinks included."""
        if self._socket_fd is not None:
            return f"/proc/self/fd/{self._socket_fd}"
        try:
            fd = os.open(host_socket, os.O_PATH | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ModelError(f"the model's socket cannot be opened: {exc.strerror}") from None
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            os.close(fd)
            raise ModelError("the model's socket was replaced by something that is not a socket")
        self._socket_fd = fd
        return f"/proc/self/fd/{fd}"

    async def _drain(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._reader), 5.0)

    def _exit_reason(self) -> str:
        assert self._proc is not None
        code = self._proc.returncode
        lines = list(self._log)
        text = "\n".join(lines)
        exc_line = ""
        for line in reversed(lines):
            m = _EXC_LINE.match(line.strip())
            if m:
                exc_line = line.strip()
                break
        detail = f": {exc_line}" if exc_line else ""
        if "Traceback" in text and "global_init" in text:
            what = "global_init crashed"
        elif "Traceback" in text and (
            "import_module" in text
            or "SyntaxError" in exc_line
            or "ImportError" in exc_line
            or "ModuleNotFoundError" in exc_line
        ):
            what = f"import error in {self.service}"
        elif "Connection in use" in text or "Address already in use" in text:
            what = "port already in use"
        elif "No such file or directory" in text:
            what = "file not found"
        else:
            what = "process failed"
        return f"{what}{detail} (process exited with code {code})"

    async def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        # Workers left in the group after the master died: kill them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await self._drain()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        self._listening.clear()
        if self._socket_fd is not None:
            os.close(self._socket_fd)
            self._socket_fd = None
        if self._own_sandbox_root is not None:
            await asyncio.to_thread(shutil.rmtree, self._own_sandbox_root, True)
            self._own_sandbox_root = None
            self.sandbox = None

    async def __aenter__(self) -> BundleServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
