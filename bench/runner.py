"""Runner throughput benchmark: does the harness keep a model server of known capacity busy?

A model server of known capacity runs as its own process (uvicorn): it answers ``POST /func``
(the flageval-serving protocol, SPEC §5) and ``POST /v1/chat/completions`` (OpenAI style), serves
at most C requests at once (an ``asyncio.Semaphore``; more requests wait) and takes a fixed
latency L for each, so its capacity is C / L requests per second (C=16, L=50 ms: 320 req/s).

For each protocol the harness's ``evaluate_dataset`` runs a synthetic choice dataset of N items
through the runner's client (``NLPFuncClient`` / ``OpenAIChatClient``) with the harness's
concurrency set to C, and the benchmark prints the achieved req/s divided by the capacity (SPEC
target of this benchmark: >= 0.95). The named baseline, on the same server: a plain
asyncio + httpx client firing the same request bodies with a semaphore of C and nothing else
(the ``openai`` package is not installed here); aiohttp the same way, as a second reference.
Each client first sends C warm-up requests (connections opened), then the timed N.

    .venv/bin/python bench/runner.py [--items 3000] [--concurrency 16] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform as host
import random
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from flageval_datasets.loader import Dataset, load_dataset
from flageval_runner.harness import predictor
from flageval_runner.protocols import (
    GenerationRequest,
    ModelClient,
    NLPFuncClient,
    OpenAIChatClient,
)
from flageval_runner.tasks import evaluate_dataset

TARGET = 0.95
MAX_NEW_TOKENS = 16

# ---------------------------------------------------------------- the model server (subprocess)


def serve(port: int, concurrency: int, latency: float) -> None:
    """A raw ASGI app (no framework: its own overhead stays small) under uvicorn."""
    import uvicorn

    slots = asyncio.Semaphore(concurrency)
    state = {"in_flight": 0, "max_in_flight": 0, "served": 0}

    func_reply = json.dumps({"completions": [{"text": "A", "tokens": "A"}]}).encode()
    chat_reply = json.dumps(
        {
            "id": "bench",
            "object": "chat.completion",
            "model": "bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "A"},
                    "finish_reason": "stop",
                }
            ],
        }
    ).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        more = True
        while more:  # read the whole body
            message = await receive()
            more = message.get("more_body", False)
        path = scope["path"]
        if path in ("/func", "/v1/chat/completions") and scope["method"] == "POST":
            async with slots:  # at most C at once; the others wait here
                state["in_flight"] += 1
                state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
                try:
                    await asyncio.sleep(latency)
                finally:
                    state["in_flight"] -= 1
                state["served"] += 1
            body = func_reply if path == "/func" else chat_reply
        elif path == "/stats":
            body = json.dumps(state).encode()
            if scope["method"] == "POST":  # reset
                state.update(max_in_flight=0, served=0)
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        backlog=4096,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ModelServer:
    def __init__(self, concurrency: int, latency: float) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.port), str(concurrency), str(latency)]
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base}/stats", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the model server did not start")
            time.sleep(0.1)

    def stats(self, reset: bool = False) -> dict[str, int]:
        reply = httpx.request("POST" if reset else "GET", f"{self.base}/stats", timeout=5)
        return dict(reply.json())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- clients under test


def synthetic_dataset(n: int) -> Dataset:
    rng = random.Random(0)
    card = {
        "name": "bench-choice",
        "domain": "nlp",
        "version": "1",
        "few_shot": 0,
        "task": "choice_qa",
        "language": "en",
        "metric": "accuracy",
        "description": "synthetic items for bench/runner.py",
    }
    rows = [
        {
            "id": f"q{i}",
            "input": f"Synthetic question number {i}: which option is right?",
            "choices": [f"option {j} of {i}" for j in range(4)],
            "label": "ABCD"[rng.randrange(4)],
        }
        for i in range(n)
    ]
    data = "".join(json.dumps(r) + "\n" for r in rows)
    return load_dataset(json.dumps(card), data)


@dataclass
class Result:
    protocol: str
    client: str
    requests: int
    seconds: float
    max_in_flight: int

    def rate(self) -> float:
        return self.requests / self.seconds


async def run_harness(
    protocol: str, server: ModelServer, dataset: Dataset, concurrency: int
) -> tuple[int, float]:
    client: ModelClient
    if protocol == "/func":
        client = NLPFuncClient(server.base, concurrency=concurrency, timeout=30)
    else:
        client = OpenAIChatClient(
            f"{server.base}/v1/chat/completions",
            model_name="bench",
            api_key="bench-key",
            concurrency=concurrency,
            timeout=30,
        )
    try:
        warm = [GenerationRequest(prompt="warm-up", max_new_tokens=1) for _ in range(concurrency)]
        await asyncio.gather(*(client.generate(r) for r in warm))
        server.stats(reset=True)
        start = time.perf_counter()
        result = await evaluate_dataset(
            dataset, predictor(client, dataset, MAX_NEW_TOKENS), concurrency=concurrency
        )
        seconds = time.perf_counter() - start
    finally:
        await client.aclose()
    assert result.n_items == len(dataset.items) and result.score is not None
    return result.n_items, seconds


def bodies(protocol: str, dataset: Dataset) -> list[dict[str, Any]]:
    """The request bodies the harness sends, built before the clock starts."""
    from flageval_runner.prompts import build_prompt

    func = NLPFuncClient("http://unused")
    chat = OpenAIChatClient("http://unused", model_name="bench")
    out = []
    for item in dataset.items:
        request = GenerationRequest(
            prompt=build_prompt(dataset, item), max_new_tokens=MAX_NEW_TOKENS
        )
        out.append(func.payload(request) if protocol == "/func" else chat.payload(request))
    return out


async def fire(
    send: Callable[[dict[str, Any]], Awaitable[Any]],
    payloads: list[dict[str, Any]],
    concurrency: int,
) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with sem:
            await send(body)

    await asyncio.gather(*(one(b) for b in payloads))


async def run_httpx(
    protocol: str, server: ModelServer, payloads: list[dict[str, Any]], concurrency: int
) -> tuple[int, float]:
    url = f"{server.base}{protocol}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": "Bearer bench-key"}
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:

        async def send(body: dict[str, Any]) -> None:
            reply = await client.post(url, json=body)
            reply.raise_for_status()
            reply.json()

        await fire(send, payloads[:concurrency], concurrency)
        server.stats(reset=True)
        start = time.perf_counter()
        await fire(send, payloads, concurrency)
        return len(payloads), time.perf_counter() - start


async def run_aiohttp(
    protocol: str, server: ModelServer, payloads: list[dict[str, Any]], concurrency: int
) -> tuple[int, float]:
    import aiohttp

    url = f"{server.base}{protocol}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": "Bearer bench-key"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def send(body: dict[str, Any]) -> None:
            async with session.post(url, json=body) as reply:
                reply.raise_for_status()
                await reply.json()

        await fire(send, payloads[:concurrency], concurrency)
        server.stats(reset=True)
        start = time.perf_counter()
        await fire(send, payloads, concurrency)
        return len(payloads), time.perf_counter() - start


# ---------------------------------------------------------------- main


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--items", type=int, default=3000, help="synthetic dataset size (N)")
    p.add_argument(
        "--concurrency", type=int, default=16, help="server slots C = harness concurrency"
    )
    p.add_argument("--latency-ms", type=float, default=50.0, help="server latency L per request")
    p.add_argument("--no-aiohttp", action="store_true", help="skip the aiohttp reference")
    args = p.parse_args()
    c, latency = args.concurrency, args.latency_ms / 1000
    capacity = c / latency
    dataset = synthetic_dataset(args.items)
    print(
        f"model server: C={c} at once, L={args.latency_ms:g} ms each -> capacity "
        f"{capacity:.0f} req/s; {args.items} items; harness concurrency {c}; "
        f"{host.python_implementation()} {host.python_version()}, {host.machine()}"
    )
    server = ModelServer(c, latency)
    results: list[Result] = []
    try:
        for protocol in ("/func", "/v1/chat/completions"):
            payloads = bodies(protocol, dataset)
            runs: list[tuple[str, Callable[..., Coroutine[Any, Any, tuple[int, float]]]]] = [
                (
                    "harness evaluate_dataset",
                    lambda protocol=protocol: run_harness(protocol, server, dataset, c),
                ),
                (
                    "baseline asyncio+httpx",
                    lambda protocol=protocol, payloads=payloads: run_httpx(
                        protocol, server, payloads, c
                    ),
                ),
            ]
            if not args.no_aiohttp:
                runs.append(
                    (
                        "reference asyncio+aiohttp",
                        lambda protocol=protocol, payloads=payloads: run_aiohttp(
                            protocol, server, payloads, c
                        ),
                    )
                )
            for name, run in runs:
                n, seconds = asyncio.run(run())
                stats = server.stats()
                assert stats["served"] == n, (stats, n)
                results.append(Result(protocol, name, n, seconds, stats["max_in_flight"]))
    finally:
        server.stop()

    print()
    print(
        f"{'protocol':<22}{'client':<28}{'requests':>9}{'s':>8}{'req/s':>9}{'of capacity':>13}"
        f"{'max in flight':>15}"
    )
    for r in results:
        print(
            f"{r.protocol:<22}{r.client:<28}{r.requests:>9}{r.seconds:>8.2f}{r.rate():>9.1f}"
            f"{r.rate() / capacity:>13.3f}{r.max_in_flight:>15}"
        )
    print()
    ok = True
    for protocol in ("/func", "/v1/chat/completions"):
        mine = next(r for r in results if r.protocol == protocol and r.client.startswith("harness"))
        base = next(
            r for r in results if r.protocol == protocol and r.client.startswith("baseline")
        )
        frac = mine.rate() / capacity
        met = frac >= TARGET
        ok = ok and met
        print(
            f"{protocol}: harness {frac:.3f} of capacity ({'met' if met else 'NOT met'}: target "
            f">= {TARGET}); baseline asyncio+httpx {base.rate() / capacity:.3f}; harness / "
            f"baseline = {mine.rate() / base.rate():.3f}"
        )
    if not ok:
        raw = max(r.rate() for r in results if r.client.startswith("reference")) / capacity
        print(
            f"target not met; the raw aiohttp client reaches {raw:.3f} on this machine, where the "
            "benchmark's clients and the model server share the CPUs: compare the harness with it"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
