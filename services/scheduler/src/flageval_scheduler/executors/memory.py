"""An in-memory executor: a test double the scheduler's logic is tested against (and the
dispatch benchmark's no-cluster baseline). Tests drive it with :meth:`MemoryExecutor.set_state`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from flageval_scheduler.executors.base import ExecEvent, ExecState, Executor, JobRequest


class MemoryExecutor(Executor):
    name = "memory"

    def __init__(self) -> None:
        self.requests: dict[str, JobRequest] = {}
        self.states: dict[str, ExecEvent] = {}
        self.output: dict[str, str] = {}
        self.stopped: list[str] = []
        self.fail_submit: Exception | None = None
        self._queue: asyncio.Queue[ExecEvent] = asyncio.Queue()

    @staticmethod
    def handle_for(job: JobRequest) -> str:
        return f"memory/{job.run_id}/{job.attempt}"

    async def submit(self, job: JobRequest) -> str:
        if self.fail_submit is not None:
            raise self.fail_submit
        handle = self.handle_for(job)
        if handle not in self.requests:
            self.requests[handle] = job
            self.states[handle] = ExecEvent(job.run_id, job.attempt, handle, ExecState.PENDING)
        return handle

    def set_state(
        self, handle: str, state: ExecState, message: str = "", exit_code: int | None = None
    ) -> None:
        """What the cluster/process would do: change state and report it."""
        job = self.requests[handle]
        event = ExecEvent(job.run_id, job.attempt, handle, state, message, exit_code)
        self.states[handle] = event
        self._queue.put_nowait(event)

    def forget(self, handle: str) -> None:
        """The job disappears without any event (deleted behind the platform's back)."""
        self.states.pop(handle, None)

    async def stop(self, handle: str) -> None:
        self.stopped.append(handle)
        if handle in self.states:
            self.states[handle] = ExecEvent(
                self.states[handle].run_id,
                self.states[handle].attempt,
                handle,
                ExecState.FAILED,
                "stopped",
            )

    async def state(self, handle: str) -> ExecEvent:
        if handle in self.states:
            return self.states[handle]
        _, run_id, attempt = handle.split("/")
        return ExecEvent(uuid.UUID(run_id), int(attempt), handle, ExecState.VANISHED)

    async def logs(self, handle: str, *, tail_lines: int | None = None) -> str | None:
        text = self.output.get(handle)
        if text is None or tail_lines is None:
            return text
        return "\n".join(text.splitlines()[-tail_lines:])

    async def events(self) -> AsyncIterator[ExecEvent]:
        while True:
            yield await self._queue.get()
