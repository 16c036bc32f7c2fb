"""The public boards: columns, averages, overall, order, ranks and ties, metric directions,
anonymity, and the reproducibility card."""

from __future__ import annotations

import json
from typing import Any

import pytest

NLP = [
    ("knowledge", "mmlu", {"accuracy": 0.8}),
    ("knowledge", "cmmlu", {"accuracy": 0.6}),
    ("math-reasoning", "gsm8k", {"exact_match": 0.4, "accuracy": 0.4}),
]


async def test_named_entry_shows_the_profile_and_its_scores(board) -> None:
    await board.person(board.alice, "Ada Lovelace", "BAAI")
    await board.publish_run(board.alice, NLP, model_name="llama-7b")
    doc = await board.board()

    assert [c["key"] for c in doc["columns"]] == [
        "dataset:cmmlu",
        "dataset:mmlu",
        "dataset:gsm8k",
        "task:knowledge",
        "task:math-reasoning",
        "overall",
    ]
    gsm8k = next(c for c in doc["columns"] if c["key"] == "dataset:gsm8k")
    # The catalog names the primary metric (the run also reported accuracy).
    assert gsm8k == {
        "key": "dataset:gsm8k",
        "kind": "dataset",
        "better": "higher",
        "id": "gsm8k",
        "task": "math-reasoning",
        "metric": "exact_match",
    }
    (row,) = doc["rows"]
    assert row["rank"] == 1
    assert row["model_name"] == "llama-7b"
    assert (row["submitter"], row["organization"]) == ("Ada Lovelace", "BAAI")
    assert row["scores"] == {"cmmlu": 0.6, "mmlu": 0.8, "gsm8k": 0.4}
    assert row["task_averages"] == pytest.approx({"knowledge": 0.7, "math-reasoning": 0.4})
    assert row["overall"] == pytest.approx(0.55)
    assert row["submitted_at"]


async def test_reproducibility_card(board) -> None:
    await board.publish_run(board.alice, NLP)
    (row,) = (await board.board())["rows"]
    card = row["reproducibility"]
    assert card["bundle_sha256"] == "b" * 64
    assert card["image"] == "nlp-serving:1.0"
    assert card["generation"] == {"max_new_tokens": 64, "seed": 0, "temperature": 0.0}
    assert card["platform_version"] == "0.1.0"
    assert card["finished_at"].startswith("2026-11-29T12:00:00")
    assert [(d["task"], d["dataset"], d["version"]) for d in card["datasets"]] == [
        ("knowledge", "mmlu", "2023"),
        ("knowledge", "cmmlu", "2023"),
        ("math-reasoning", "gsm8k", "2023"),
    ]
    assert all(len(d["sha256"]) == 64 for d in card["datasets"])


async def test_named_entry_without_a_profile_shows_the_username_until_one_arrives(board) -> None:
    await board.publish_run(board.bob, NLP)
    (row,) = (await board.board())["rows"]
    assert (row["submitter"], row["organization"]) == ("bob", None)
    # The profile arrives later: the (cached) board shows it at once.
    await board.person(board.bob, "Bob Builder", "Tsinghua")
    (row,) = (await board.board())["rows"]
    assert (row["submitter"], row["organization"]) == ("Bob Builder", "Tsinghua")


async def test_anonymous_entry_carries_no_trace_of_the_person(board) -> None:
    alice = board.alice
    await board.person(alice, "Ada Lovelace", "Analytical Engines Ltd", email="ada@example.org")
    run_id = await board.publish_run(alice, NLP, mode="anonymous", model_name="secret-model")
    await board.person(alice, "Ada King", "Royal Society", email="ada@example.org")

    traces = [
        alice.username,
        str(alice.user_id),
        alice.user_id.hex,
        "Ada Lovelace",
        "Ada King",
        "Analytical Engines",
        "Royal Society",
        "ada@example.org",
        "alice-eval",  # the evaluation's name (the model name is what the owner published)
        str(run_id),
    ]
    doc = await board.board()
    (row,) = doc["rows"]
    assert (row["submitter"], row["organization"]) == ("匿名", "匿名")
    assert row["model_name"] == "secret-model"
    for sort in [c["key"] for c in doc["columns"]] + ["submitted_at"]:
        for order in ("asc", "desc"):
            reply = await board.client.get(
                "/api/leaderboards/nlp", params={"sort": sort, "order": order}
            )
            text = reply.text
            for trace in traces:
                assert trace.lower() not in text.lower(), (trace, sort, order)
            assert text.encode() == reply.content
            assert "匿名" in json.loads(text)["rows"][0]["submitter"]


async def test_ties_share_a_rank_and_keep_publication_order(board) -> None:
    runs = {}
    for name, accuracy in (("a", 0.5), ("b", 0.8), ("c", 0.8), ("d", 0.9), ("e", 0.8)):
        runs[name] = await board.publish_run(
            board.alice, [("knowledge", "mmlu", {"accuracy": accuracy})], model_name=name
        )
    doc = await board.board()
    assert [(r["rank"], r["model_name"]) for r in doc["rows"]] == [
        (1, "d"),
        (2, "b"),
        (2, "c"),
        (2, "e"),
        (5, "a"),
    ]
    doc = await board.board(order="asc")
    assert [(r["rank"], r["model_name"]) for r in doc["rows"]] == [
        (1, "a"),
        (2, "b"),
        (2, "c"),
        (2, "e"),
        (5, "d"),
    ]


async def test_values_equal_up_to_float_noise_tie(board) -> None:
    # 0.1 + 0.2 and 0.3 differ in the last bit; a board must not rank them apart.
    await board.publish_run(
        board.alice,
        [("knowledge", "mmlu", {"accuracy": 0.1 + 0.2})],
        model_name="noisy",
    )
    await board.publish_run(board.alice, [("knowledge", "mmlu", {"accuracy": 0.3})])
    ranks = [r["rank"] for r in (await board.board())["rows"]]
    assert ranks == [1, 1]


def _assert_sorted(rows: list[dict[str, Any]], value: Any, descending: bool) -> None:
    valued = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    assert rows == valued + missing, "rows without a value come last"
    values = [value(r) for r in valued]
    assert values == sorted(values, reverse=descending)
    assert all(r["rank"] is None for r in missing)
    for position, row in enumerate(valued):
        if position and values[position] == values[position - 1]:
            assert row["rank"] == valued[position - 1]["rank"]
        else:
            assert row["rank"] == position + 1


async def test_sort_by_every_column_in_both_directions(board) -> None:
    entries = [
        [
            ("knowledge", "mmlu", {"accuracy": 0.7}),
            ("math-reasoning", "gsm8k", {"exact_match": 0.2}),
        ],
        [("knowledge", "mmlu", {"accuracy": 0.9})],
        [
            ("knowledge", "cmmlu", {"accuracy": 0.4}),
            ("math-reasoning", "gsm8k", {"exact_match": 0.6}),
        ],
        [("knowledge", "mmlu", {"accuracy": 0.7}), ("knowledge", "cmmlu", {"accuracy": 0.9})],
    ]
    for number, scores in enumerate(entries):
        await board.publish_run(board.alice, scores, model_name=f"m{number}")
    doc = await board.board()
    keys = [c["key"] for c in doc["columns"]]
    assert set(keys) == {
        "dataset:mmlu",
        "dataset:cmmlu",
        "dataset:gsm8k",
        "task:knowledge",
        "task:math-reasoning",
        "overall",
    }

    def getter(key: str) -> Any:
        kind, _, name = key.partition(":")
        if kind == "dataset":
            return lambda r: r["scores"][name]
        if kind == "task":
            return lambda r: r["task_averages"][name]
        return lambda r: r[key]

    for key in [*keys, "submitted_at"]:
        for order in ("asc", "desc"):
            rows = (await board.board(sort=key, order=order))["rows"]
            assert len(rows) == 4
            _assert_sorted(rows, getter(key), descending=order == "desc")
        # Default: better first (every column here is higher-is-better; submitted_at: earliest).
        default = (await board.board(sort=key))["rows"]
        expected = "asc" if key == "submitted_at" else "desc"
        assert default == (await board.board(sort=key, order=expected))["rows"]
    assert doc == await board.board(sort="overall", order="desc")


async def test_lower_is_better_metrics(board) -> None:
    def audio(wer: float, accuracy: float) -> list[tuple[str, str, dict[str, float]]]:
        return [
            ("asr", "librispeech", {"wer": wer}),
            ("keyword-spotting", "speech-commands", {"accuracy": accuracy}),
        ]

    await board.publish_run(board.alice, audio(0.30, 0.95), domain="audio", model_name="worse-asr")
    await board.publish_run(board.alice, audio(0.10, 0.90), domain="audio", model_name="better-asr")
    doc = await board.board("audio")
    columns = {c["key"]: c for c in doc["columns"]}
    assert columns["dataset:librispeech"]["better"] == "lower"
    assert columns["dataset:librispeech"]["metric"] == "wer"
    assert columns["task:asr"]["better"] == "lower"
    assert columns["overall"]["better"] == "higher"
    # overall leaves the lower-is-better task out: it is the keyword-spotting accuracy here.
    by_name = {r["model_name"]: r for r in doc["rows"]}
    assert by_name["worse-asr"]["overall"] == pytest.approx(0.95)
    assert by_name["worse-asr"]["task_averages"]["asr"] == pytest.approx(0.30)
    assert [r["model_name"] for r in doc["rows"]] == ["worse-asr", "better-asr"]

    # "Better first" on a WER column is the smallest first.
    for key in ("dataset:librispeech", "task:asr"):
        rows = (await board.board("audio", sort=key))["rows"]
        assert [(r["rank"], r["model_name"]) for r in rows] == [(1, "better-asr"), (2, "worse-asr")]
        rows = (await board.board("audio", sort=key, order="desc"))["rows"]
        assert [r["model_name"] for r in rows] == ["worse-asr", "better-asr"]


async def test_a_task_mixing_directions_averages_its_higher_is_better_datasets(board) -> None:
    await board.publish_run(
        board.alice,
        [
            ("vqa", "mmmu", {"accuracy": 0.5}),
            ("t2i", "coco-t2i", {"fid": 12.5}),
            ("t2i", "t2i-compbench", {"clip_score": 0.3}),
        ],
        domain="multimodal",
    )
    doc = await board.board("multimodal")
    columns = {c["key"]: c for c in doc["columns"]}
    assert columns["dataset:coco-t2i"]["better"] == "lower"
    assert columns["task:t2i"]["better"] == "higher"
    (row,) = doc["rows"]
    assert row["task_averages"] == pytest.approx({"vqa": 0.5, "t2i": 0.3})
    assert row["overall"] == pytest.approx(0.4)
    assert row["scores"]["coco-t2i"] == 12.5


async def test_primary_metric_comes_from_the_catalog_then_from_the_run(board) -> None:
    await board.publish_run(
        board.alice,
        [
            # Sorted keys as the runner reports them; the catalog says f1.
            (
                "reading-comprehension",
                "demo-en-genqa",
                {"accuracy": 0.2, "exact_match": 0.1, "f1": 0.45, "quasi_exact_match": 0.2},
            ),
            # Not in the catalog: the first metric the run reported (robustness aside).
            ("knowledge", "my-own-dataset", {"robustness": 0.1, "accuracy": 0.33}),
            # A human evaluation still being graded: no score, no column.
            ("chinese-open-qa", "chinese-open-qa", {}),
        ],
    )
    doc = await board.board()
    columns = {c["key"]: c for c in doc["columns"]}
    assert columns["dataset:demo-en-genqa"]["metric"] == "f1"
    assert columns["dataset:my-own-dataset"]["metric"] == "accuracy"
    assert "dataset:chinese-open-qa" not in columns
    (row,) = doc["rows"]
    assert row["scores"] == {"my-own-dataset": 0.33, "demo-en-genqa": 0.45}


async def test_empty_boards_of_every_domain(board) -> None:
    for domain in ("nlp", "cv", "multimodal", "audio", "safety"):
        doc = await board.board(domain)
        assert doc == {
            "domain": domain,
            "columns": [{"key": "overall", "kind": "overall", "better": "higher"}],
            "rows": [],
        }
    listed = await board.client.get("/api/leaderboards")
    assert listed.json() == {"domains": ["nlp", "cv", "multimodal", "audio", "safety"]}


async def test_boards_are_per_domain(board) -> None:
    await board.publish_run(
        board.alice, [("classification", "imagenet-1k", {"top1-accuracy": 0.8})], domain="cv"
    )
    await board.publish_run(
        board.alice, [("a1-core-values", "flames", {"safety-rate": 0.9})], domain="safety"
    )
    assert [r["scores"] for r in (await board.board("cv"))["rows"]] == [{"imagenet-1k": 0.8}]
    assert [r["scores"] for r in (await board.board("safety"))["rows"]] == [{"flames": 0.9}]
    assert (await board.board("nlp"))["rows"] == []


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/leaderboards/chemistry", {}, 404),
        ("/api/leaderboards/NLP", {}, 404),
        ("/api/leaderboards/nlp", {"sort": "dataset:nope"}, 422),
        ("/api/leaderboards/nlp", {"sort": "mmlu"}, 422),
        ("/api/leaderboards/nlp", {"sort": ""}, 422),
        ("/api/leaderboards/nlp", {"sort": "x" * 301}, 422),
        ("/api/leaderboards/nlp", {"order": "up"}, 422),
        ("/api/leaderboards/nlp", {"order": ""}, 422),
        ("/api/leaderboards/nlp", {"order": "DESC"}, 422),
    ],
)
async def test_bad_board_parameters(board, path: str, params: dict[str, str], status: int) -> None:
    await board.publish_run(board.alice, NLP)
    reply = await board.client.get(path, params=params)
    assert reply.status_code == status, reply.text
