"""A complete bundle is checked with the real per-domain layout rules (SPEC §2 Bundle), reading
the small files it needs from the object store, and the verdict travels in ``bundle.ready``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.postgres

SERVICE_PY = b"""\
from flageval.serving.service import NLPModelService, NLPEvalRequest, NLPEvalResponse, NLPCompletion


class Service(NLPModelService):
    def global_init(self, model_path: str):
        self.model_path = model_path

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        return NLPEvalResponse(completions=[NLPCompletion(text="hi", tokens="hi")])
"""


@pytest.fixture
def layout_checker():
    """Keep the service's real layout check (conftest.py stubs it for the other tests)."""
    return None


async def versions(upload, evaluation_id, owner):
    reply = await upload.client.get(
        f"/api/evaluations/{evaluation_id}/bundles", headers=upload.headers(owner)
    )
    assert reply.status_code == 200
    return reply.json()


async def test_an_nlp_bundle_is_valid_or_invalid_by_the_real_rules(upload) -> None:
    evaluation_id, owner = await upload.evaluation(domain="nlp")
    good = (await upload.issue(evaluation_id, owner)).json()["token"]
    await upload.upload(
        good,
        {
            "service.py": SERVICE_PY,
            "meta.json": b'{"parameter_scale_billion": 7}',
            "model/config.json": b"{}",
            "model/weights.bin": b"w" * (200 * 1024 + 11),
        },
    )
    bad = (await upload.issue(evaluation_id, owner)).json()["token"]
    await upload.upload(bad, {"meta.json": b'{"name": "no scale"}', "weights.bin": b"w" * 10})

    newest, oldest = await versions(upload, evaluation_id, owner)
    assert (oldest["version"], oldest["status"], oldest["problems"]) == (1, "valid", [])
    assert (newest["version"], newest["status"]) == (2, "invalid")
    text = " ".join(newest["problems"])
    assert "service.py" in text and "parameter_scale_billion" in text and "model/" in text

    events = await upload.bundle_ready_events()
    assert [(e["version"], e["valid"]) for e in events] == [(1, True), (2, False)]
    assert events[1]["problems"] == newest["problems"]
    assert {e["evaluation_id"] for e in events} == {str(evaluation_id)}


async def test_a_multimodal_bundle_needs_its_root_files(upload) -> None:
    evaluation_id, owner = await upload.evaluation(domain="multimodal")
    token = (await upload.issue(evaluation_id, owner)).json()["token"]
    await upload.upload(token, {"run.sh": b"#!/bin/bash\necho $1 $2 $3\n"})
    (bundle,) = await versions(upload, evaluation_id, owner)
    assert bundle["status"] == "invalid"
    assert any("checkpoint.pth" in p for p in bundle["problems"])
