"""Evaluate one model on datasets, locally: the harness without the platform around it.

``python -m flageval_runner evaluate …`` starts the user's bundle with the real
``flageval-serving`` CLI (or talks to an OpenAI-style endpoint), runs each dataset serially
(the platform's order), and writes ``results.json`` plus one ``<dataset>.predictions.jsonl``
per dataset. ``run`` and ``fetch-bundle`` are the platform mode (:mod:`flageval_runner.platform_run`):
the same pieces, driven by a run's spec and reporting over the progress channel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from flageval_datasets.loader import (
    Dataset,
    DatasetError,
    Item,
    demo_dataset_names,
    load_dataset,
    load_demo_dataset,
)
from flageval_runner.protocols import (
    BundleServer,
    GenerationRequest,
    ModelClient,
    ModelError,
    NLPFuncClient,
    OpenAIChatClient,
)
from flageval_runner.sandbox import SandboxError
from flageval_runner.tasks import EvaluationError, evaluate_dataset, run_validation, task_scores


class HarnessError(Exception):
    """A request the harness cannot act on (a dataset that does not exist, …)."""


def open_dataset(spec: str) -> Dataset:
    """A demo dataset by name, or a folder holding ``card.json`` and ``data.jsonl``."""
    path = Path(spec)
    if path.is_dir():
        return load_dataset((path / "card.json").read_bytes(), (path / "data.jsonl").read_bytes())
    if spec in demo_dataset_names():
        return load_demo_dataset(spec)
    raise HarnessError(
        f"no dataset folder or demo dataset named {spec!r} (demo: {', '.join(demo_dataset_names())})"
    )


def predictor(client: ModelClient, dataset: Dataset, max_new_tokens: int):  # type: ignore[no-untyped-def]
    async def predict(prompt: str, item: Item) -> str:
        request = GenerationRequest(
            prompt=prompt, max_new_tokens=max_new_tokens, item_id=item.id, dataset=dataset.name
        )
        return (await client.generate(request)).text

    return predict


async def evaluate(args: argparse.Namespace, datasets: list[Dataset], out: Path) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        client: ModelClient
        if args.bundle:
            server = BundleServer(args.bundle, startup_timeout=args.startup_timeout)
            base_url = await server.start()
            stack.push_async_callback(server.stop)
            client = NLPFuncClient(base_url, concurrency=args.concurrency, timeout=args.timeout)
        else:
            client = OpenAIChatClient(
                args.api_endpoint,
                model_name=args.model_name,
                api_key=os.environ.get(args.api_key_env) if args.api_key_env else None,
                concurrency=args.concurrency,
                timeout=args.timeout,
            )
        stack.push_async_callback(client.aclose)
        report: dict[str, Any] = {"kind": "validation" if args.validation else "formal"}
        if args.validation:
            rows = []
            for dataset in datasets:  # serially, one dataset at a time
                sample, dataset_rows = await run_validation(
                    dataset,
                    predictor(client, dataset, args.max_new_tokens),
                    k=args.validation,
                    seed=args.seed,
                    concurrency=args.concurrency,
                )
                rows += dataset_rows
                report.setdefault("seeds", {})[dataset.name] = sample.seed
            report["samples"] = rows
        else:
            results = []
            for dataset in datasets:
                result = await evaluate_dataset(
                    dataset,
                    predictor(client, dataset, args.max_new_tokens),
                    robustness=args.robustness,
                    concurrency=args.concurrency,
                    seed=args.seed or 0,
                )
                (out / f"{dataset.name}.predictions.jsonl").write_bytes(result.predictions_jsonl())
                results.append(result)
            report["datasets"] = [r.summary() for r in results]
            report["task_averages"] = task_scores(results)
    (out / "results.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m flageval_runner", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="evaluate a bundle or an API model on datasets")
    model = ev.add_mutually_exclusive_group(required=True)
    model.add_argument("--bundle", help="an NLP bundle folder (service.py, meta.json, model/)")
    model.add_argument("--api-endpoint", help="an OpenAI-style chat-completions URL")
    ev.add_argument("--model-name", default="", help="online model name (API mode)")
    ev.add_argument("--api-key-env", help="name of the environment variable holding the API key")
    ev.add_argument("--dataset", action="append", required=True, help="demo name or folder")
    ev.add_argument("--out", required=True, help="folder for results.json and predictions")
    ev.add_argument("--robustness", action="store_true", help="also score perturbed inputs")
    ev.add_argument("--validation", type=int, choices=(1, 2, 3), help="1-3 samples per dataset")
    ev.add_argument("--seed", type=int)
    ev.add_argument("--concurrency", type=int, default=8)
    ev.add_argument("--timeout", type=float, default=60.0)
    ev.add_argument("--startup-timeout", type=float, default=300.0)
    ev.add_argument("--max-new-tokens", type=int, default=64)
    sub.add_parser(
        "run",
        help="platform mode: run the attempt named by FLAGEVAL_RUN_ID/FLAGEVAL_RUN_ATTEMPT, "
        "reporting to FLAGEVAL_PROGRESS_URL (see docs/runs.md)",
    )
    fetch = sub.add_parser(
        "fetch-bundle", help="platform mode: download the run's bundle (Kubernetes init step)"
    )
    fetch.add_argument("--dest", required=True, help="folder the bundle files are written to")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in ("run", "fetch-bundle"):
        from flageval_runner import platform_run  # imports this module: import late

        if args.command == "run":
            return platform_run.run_command()
        return platform_run.fetch_bundle_command(args.dest)
    if args.api_endpoint and not args.model_name:
        print("error: --model-name is required with --api-endpoint", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        datasets = [open_dataset(spec) for spec in args.dataset]
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(evaluate(args, datasets, out))
    except (HarnessError, DatasetError, ModelError, EvaluationError, SandboxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for row in report.get("datasets", []):
        robust = "" if row["robustness"] is None else f"  robustness {row['robustness']:.4f}"
        score = "human evaluation" if row["score"] is None else f"{row['score']:.4f}"
        print(f"{row['dataset']:<24} {row['metric']:<18} {score}{robust}")
    for row in report.get("samples", []):
        print(json.dumps(row, ensure_ascii=False))
    return 0
