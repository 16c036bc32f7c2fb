# ruff: noqa: RUF001
"""Model protocols (SPEC §5): the real flageval-serving CLI on test bundles, and a local
OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from flageval_runner.protocols import (
    BundleServer,
    Generation,
    GenerationRequest,
    ModelClient,
    ModelError,
    NLPFuncClient,
    OpenAIChatClient,
)
from flageval_runner.protocols.base import MAX_ANSWER_CHARS

pytestmark = pytest.mark.asyncio(loop_scope="module")

BUNDLES = Path(__file__).parent / "bundles"
API_KEY = "sk-test-SECRET-1234567890abcdef"


def req(prompt: str, item: str = "item-1", **kw: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, item_id=item, dataset="demo-ds", **kw)


# ------------------------------------------------------------------ real flageval-serving bundle


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def echo_server() -> AsyncIterator[str]:
    server = BundleServer(BUNDLES / "echo", startup_timeout=60)
    base_url = await server.start()
    try:
        yield base_url
    finally:
        await server.stop()


async def test_bundle_answers_deterministically(echo_server: str) -> None:
    async with NLPFuncClient(echo_server) as client:
        assert isinstance(client, ModelClient)
        out = await client.generate(req("What is 2+2?"))
        assert out == Generation(text="4", raw=out.raw)
        assert out.raw["completions"][0]["tokens"] == "4"
        assert (await client.generate(req("中国的首都是哪里？"))).text == "北京"
        assert (await client.generate(req("unknown prompt"))).text == "unknown prompt"


async def test_bundle_receives_every_required_field(echo_server: str) -> None:
    async with NLPFuncClient(echo_server, engine="my-engine") as client:
        out = await client.generate(
            req(
                "__fields__",
                max_new_tokens=7,
                temperature=0.3,
                top_p=0.9,
                stop_sequences=("\n", "###"),
                num_return_sequences=2,
                echo_prompt=True,
                top_k_per_token=5,
            )
        )
    fields = json.loads(out.text)
    assert fields["engine"] == "my-engine"
    assert fields["max_tokens"] == 7
    assert fields["temperature"] == 0.3
    assert fields["top_p"] == 0.9
    assert fields["stop_sequences"] == ["\n", "###"]
    assert fields["max_return_sequences"] == 2
    assert fields["echo_prompt"] is True
    assert fields["top_k_per_token"] == 5
    payload = NLPFuncClient("http://x").payload(req("p"))
    assert set(payload) == {
        "engine",
        "prompt",
        "temperature",
        "num_return_sequences",
        "max_new_tokens",
        "top_p",
        "echo_prompt",
        "top_k_per_token",
        "stop_sequences",
    }


async def test_bundle_concurrency_is_bounded(echo_server: str) -> None:
    async with NLPFuncClient(echo_server, concurrency=4) as client:
        await client.generate(req("__reset__"))
        outs = await asyncio.gather(
            *(client.generate(req("__busy__:0.05", item=str(i))) for i in range(40))
        )
        assert {o.text for o in outs} == {"busy done"}
        stats = json.loads((await client.generate(req("__stats__"))).text)
    assert stats["total"] == 40
    assert 2 <= stats["max"] <= 4  # the server saw the bound reached but never exceeded


async def test_bundle_500_is_retried_then_names_dataset_and_item(echo_server: str) -> None:
    async with NLPFuncClient(echo_server, retries=2, backoff=0.01) as client:
        with pytest.raises(ModelError) as err:
            await client.generate(req("__fail__", item="q-42"))
    msg = str(err.value)
    assert "demo-ds" in msg and "q-42" in msg
    assert "deliberate failure in infer" in msg and "3 attempts" in msg


async def test_bundle_timeout(echo_server: str) -> None:
    async with NLPFuncClient(echo_server, timeout=0.3, retries=1, backoff=0.01) as client:
        started = time.monotonic()
        with pytest.raises(ModelError, match=r"timed out.*") as err:
            await client.generate(req("__sleep__:2", item="slow-1"))
        assert time.monotonic() - started < 2
    assert "slow-1" in str(err.value)


async def test_bundle_serves_over_a_pinned_unix_socket_and_stops() -> None:
    server = BundleServer(BUNDLES / "echo", startup_timeout=60)
    base_url = await server.start()
    sandbox_root = server._own_sandbox_root
    assert sandbox_root is not None
    try:
        assert base_url.startswith("unix:/proc/self/fd/")
        assert "Booting worker" in server.log_tail()
        assert "Listening at: unix:/model/model.sock" in server.log_tail()
        async with NLPFuncClient(base_url) as client:
            assert (await client.generate(req("Capital of France?"))).text == "Paris"
        pid = server.pid
        assert pid is not None
    finally:
        await server.stop()
    assert server._proc is not None and server._proc.returncode is not None
    assert not sandbox_root.exists()  # the temporary sandbox folder is gone
    # Nothing of the sandbox is left running (the bundle's gunicorn master or workers).
    left = [
        p.name
        for p in Path("/proc").iterdir()  # noqa: ASYNC240 - a handful of tiny reads
        if p.name.isdigit() and _cmdline(p).find(str(sandbox_root)) >= 0
    ]
    assert left == []


async def test_a_bundle_cannot_point_the_runner_at_another_socket(tmp_path: Path) -> None:
    """The bundle's output shares the stream gunicorn logs to: a fake "Listening at" line
    naming a host socket must not make the runner connect there."""
    import shutil
    import socket as sockets

    evil = tmp_path / "evil.sock"
    listener = sockets.socket(sockets.AF_UNIX)
    listener.bind(str(evil))
    listener.listen()
    listener.setblocking(False)
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLES / "echo", bundle)
    conf = bundle / "local_guniconf.py"
    conf.write_text(
        conf.read_text() + f"\nprint('[0] [1] [INFO] Listening at: unix:{evil} (1)', flush=True)\n"
    )
    server = BundleServer(bundle, startup_timeout=60)
    try:
        base_url = await server.start()
        async with NLPFuncClient(base_url) as client:
            assert (await client.generate(req("Capital of France?"))).text == "Paris"
    finally:
        await server.stop()
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody ever connected to it
    listener.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.parametrize(
    ("bundle", "reason", "in_tail"),
    [
        ("broken_init", "global_init crashed", "weights file model/missing.bin not found"),
        ("import_error", "import error in service.py", "torch_that_does_not_exist"),
    ],
)
async def test_broken_bundles_fail_with_reason_and_log_tail(
    bundle: str, reason: str, in_tail: str
) -> None:
    server = BundleServer(BUNDLES / bundle, startup_timeout=30, stop_timeout=3)
    started = time.monotonic()
    with pytest.raises(ModelError) as err:
        await server.start()
    assert time.monotonic() - started < 15
    msg = str(err.value)
    assert reason in msg
    assert "last log lines" in msg and in_tail in msg
    assert 'service.py", line' in msg  # the frame in the user's code


@pytest.mark.parametrize(
    ("bundle", "reason"),
    [
        ("slow_init", "did not answer HTTP within 3s"),
        ("never_listens", "never started listening within 3s"),
    ],
)
async def test_bundle_that_never_becomes_ready(bundle: str, reason: str) -> None:
    server = BundleServer(BUNDLES / bundle, startup_timeout=3, stop_timeout=2)
    started = time.monotonic()
    with pytest.raises(ModelError) as err:
        await server.start()
    assert time.monotonic() - started < 10
    assert reason in str(err.value)
    assert "last log lines" in str(err.value)
    assert server._proc is not None and server._proc.returncode is not None


async def test_bundle_without_service_py(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no service\.py"):
        await BundleServer(tmp_path).start()


# ------------------------------------------------------------------ local OpenAI-compatible server


class FakeAPI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.calls: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.chat)
        self.app.post("/nlp/func")(self.func)

    def count(self, key: str) -> int:
        self.calls[key] = self.calls.get(key, 0) + 1
        return self.calls[key]

    @staticmethod
    def reply(content: str | None, finish: str = "stop", **message: Any) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, **message},
                    "finish_reason": finish,
                }
            ],
        }

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        prompt = body["messages"][-1]["content"]
        if prompt == "hello":
            return JSONResponse(self.reply("world"))
        if prompt == "__malformed_json__":
            return PlainTextResponse("<html>bad gateway page</html>")
        if prompt == "__surrogates__":
            raw = '{"choices": [{"index": 0, "message": {"role": "assistant", "content": '
            raw += '"A\\ud800B\\ud83d\\ude00C"}, "finish_reason": "stop"}]}'
            return Response(raw, media_type="application/json")
        if prompt == "__huge__":
            return PlainTextResponse("x" * (17 << 20))
        if prompt == "__no_choices__":
            return JSONResponse({"id": "x", "choices": []})
        if prompt.startswith("__flaky__"):
            if self.count(prompt) == 1:
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=500)
            return JSONResponse(self.reply("recovered"))
        if prompt.startswith("__429__"):
            if self.count(prompt) == 1:
                return JSONResponse({"error": {"message": "rate limited"}}, status_code=429)
            return JSONResponse(self.reply("after rate limit"))
        if prompt == "__500__":
            return JSONResponse({"error": {"message": "engine crashed"}}, status_code=500)
        if prompt == "__slow__":
            await asyncio.sleep(2)
            return JSONResponse(self.reply("too late"))
        if prompt == "__filter_code__":
            return JSONResponse(
                {
                    "error": {
                        "code": "data_inspection_failed",
                        "message": "Input data may contain inappropriate content.",
                        "type": "data_inspection_failed",
                    }
                },
                status_code=400,
            )
        if prompt == "__filter_1301__":
            return JSONResponse(
                {
                    "error": {
                        "code": "1301",
                        "message": "系统检测到输入或生成内容可能包含不安全或敏感内容",
                    }
                },
                status_code=400,
            )
        if prompt == "__filter_finish__":
            return JSONResponse(self.reply(None, finish="content_filter"))
        if prompt == "__reasoning__":
            return JSONResponse(self.reply("B", reasoning_content="Let me think... B."))
        if prompt == "__bad_key__":
            auth = request.headers.get("authorization", "")
            return JSONResponse(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {auth}",
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        if prompt == "__busy__":
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await asyncio.sleep(0.05)
            finally:
                self.in_flight -= 1
            return JSONResponse(self.reply("busy done"))
        return JSONResponse(self.reply(f"echo: {prompt}"))

    async def func(self, request: Request) -> Response:
        body = await request.json()
        prompt = body["prompt"]
        if prompt == "__not_json__":
            return PlainTextResponse("not json at all")
        if prompt == "__no_completions__":
            return JSONResponse({"model_info": "", "status": 200})
        if prompt.startswith("__flaky__"):
            if self.count("func" + prompt) == 1:
                return JSONResponse({"code": 500, "message": "CUDA out of memory"}, status_code=500)
            return JSONResponse({"completions": [{"text": "ok now", "tokens": "ok now"}]})
        return JSONResponse({"completions": [{"text": prompt.upper(), "tokens": ""}]})


@pytest.fixture(scope="module")
def fake_api() -> Iterator[tuple[FakeAPI, str]]:
    api = FakeAPI()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(api.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake API did not start"
        time.sleep(0.02)
    try:
        yield api, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


def chat_client(base: str, **kw: Any) -> OpenAIChatClient:
    kw.setdefault("backoff", 0.01)
    return OpenAIChatClient(
        f"{base}/v1/chat/completions", model_name="online-model-x", api_key=API_KEY, **kw
    )


async def test_api_right_answer_request_shape_and_auth(fake_api: tuple[FakeAPI, str]) -> None:
    api, base = fake_api
    async with chat_client(base) as client:
        assert isinstance(client, ModelClient)
        out = await client.generate(req("hello", max_new_tokens=32, temperature=0.2))
    assert out.text == "world" and not out.refused
    body = api.requests[-1]
    assert body["model"] == "online-model-x"
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 32
    assert api.headers[-1]["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in repr(client)


async def test_api_reasoning_content_kept_in_raw(fake_api: tuple[FakeAPI, str]) -> None:
    _, base = fake_api
    async with chat_client(base) as client:
        out = await client.generate(req("__reasoning__"))
    assert out.text == "B"
    assert out.raw["reasoning_content"] == "Let me think... B."


@pytest.mark.parametrize("prompt", ["__malformed_json__", "__no_choices__"])
async def test_api_malformed_reply_fails_at_once(
    fake_api: tuple[FakeAPI, str], prompt: str
) -> None:
    api, base = fake_api
    before = len(api.requests)
    async with chat_client(base) as client:
        with pytest.raises(ModelError, match="malformed reply") as err:
            await client.generate(req(prompt, item="m-1"))
    assert len(api.requests) == before + 1  # not retried
    assert "demo-ds" in str(err.value) and "m-1" in str(err.value)


async def test_lone_surrogates_in_a_reply_become_replacement_characters(
    fake_api: tuple[FakeAPI, str],
) -> None:
    """A hostile model must not make the runner's reports unencodable (the platform refuses
    lone surrogates, which would end the run as a platform fault); pairs stay as they are."""
    _, base = fake_api
    async with chat_client(base) as client:
        out = await client.generate(req("__surrogates__"))
    assert out.text == "A\ufffdB\U0001f600C"
    out.text.encode("utf-8")  # encodable


async def test_answers_are_kept_up_to_a_bound() -> None:
    assert Generation(text="x" * (MAX_ANSWER_CHARS + 5)).text == "x" * MAX_ANSWER_CHARS
    assert Generation(text="short").text == "short"


async def test_a_reply_over_the_size_bound_is_a_model_error(fake_api: tuple[FakeAPI, str]) -> None:
    api, base = fake_api
    before = len(api.requests)
    async with chat_client(base) as client:
        with pytest.raises(ModelError, match="larger than 16 MiB") as err:
            await client.generate(req("__huge__", item="h-1"))
    assert len(api.requests) == before + 1  # not retried
    assert "demo-ds" in str(err.value) and "h-1" in str(err.value)


@pytest.mark.parametrize(
    ("prompt", "answer"), [("__flaky__a", "recovered"), ("__429__a", "after rate limit")]
)
async def test_api_500_or_429_then_success(
    fake_api: tuple[FakeAPI, str], prompt: str, answer: str
) -> None:
    _, base = fake_api
    async with chat_client(base) as client:
        assert (await client.generate(req(prompt))).text == answer


async def test_api_persistent_500_names_dataset_and_item(
    fake_api: tuple[FakeAPI, str],
) -> None:
    api, base = fake_api
    before = len(api.requests)
    async with chat_client(base, retries=2) as client:
        with pytest.raises(ModelError) as err:
            await client.generate(req("__500__", item="q-7"))
    msg = str(err.value)
    assert "demo-ds" in msg and "q-7" in msg and "engine crashed" in msg
    assert len(api.requests) == before + 3


async def test_api_timeout(fake_api: tuple[FakeAPI, str]) -> None:
    _, base = fake_api
    async with chat_client(base, timeout=0.3, retries=1) as client:
        started = time.monotonic()
        with pytest.raises(ModelError, match="timed out"):
            await client.generate(req("__slow__"))
        assert time.monotonic() - started < 1.9


@pytest.mark.parametrize("prompt", ["__filter_code__", "__filter_1301__", "__filter_finish__"])
async def test_api_content_filter_refusal_is_an_answer(
    fake_api: tuple[FakeAPI, str], prompt: str
) -> None:
    api, base = fake_api
    before = len(api.requests)
    async with chat_client(base) as client:
        out = await client.generate(req(prompt))
    assert out.refused and out.text == ""
    assert len(api.requests) == before + 1


async def test_api_concurrency_bounded(fake_api: tuple[FakeAPI, str]) -> None:
    api, base = fake_api
    api.max_in_flight = 0
    async with chat_client(base, concurrency=3) as client:
        outs = await asyncio.gather(
            *(client.generate(req("__busy__", item=str(i))) for i in range(30))
        )
    assert {o.text for o in outs} == {"busy done"}
    assert 2 <= api.max_in_flight <= 3


async def test_api_key_never_logged(
    fake_api: tuple[FakeAPI, str], caplog: pytest.LogCaptureFixture
) -> None:
    _, base = fake_api
    caplog.set_level(logging.DEBUG)
    async with chat_client(base, retries=1) as client:
        await client.generate(req("hello"))
        await client.generate(req("__flaky__b"))
        with pytest.raises(ModelError) as err:
            await client.generate(req("__bad_key__", item="k-1"))
        with pytest.raises(ModelError):
            await client.generate(req("__500__"))
    assert "HTTP 401" in str(err.value) and "k-1" in str(err.value)
    assert API_KEY not in str(err.value)
    assert "***" in str(err.value)  # the echoed key was scrubbed
    assert caplog.records  # something was logged (retries, requests)
    assert API_KEY not in caplog.text


# ------------------------------------------------------------------ NLPFuncClient edge cases


@pytest.mark.parametrize("prompt", ["__not_json__", "__no_completions__"])
async def test_func_malformed_reply(fake_api: tuple[FakeAPI, str], prompt: str) -> None:
    _, base = fake_api
    async with NLPFuncClient(f"{base}/nlp", backoff=0.01) as client:
        with pytest.raises(ModelError, match="malformed reply") as err:
            await client.generate(req(prompt, item="f-1"))
    assert "demo-ds" in str(err.value) and "f-1" in str(err.value)


async def test_func_500_then_success(fake_api: tuple[FakeAPI, str]) -> None:
    _, base = fake_api
    async with NLPFuncClient(f"{base}/nlp/", backoff=0.01) as client:
        assert (await client.generate(req("__flaky__x"))).text == "ok now"
        assert (await client.generate(req("abc"))).text == "ABC"


async def test_connection_refused_is_retried_then_fails() -> None:
    port = _free_port()
    async with NLPFuncClient(f"http://127.0.0.1:{port}", retries=1, backoff=0.01) as client:
        with pytest.raises(ModelError, match="connection error"):
            await client.generate(req("x"))
