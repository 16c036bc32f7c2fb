"""The envelope and event registry: validation, round trip, schema export."""

import json
import uuid

import pytest
from pydantic import ValidationError

from flageval_contracts import EVENTS, Envelope, new_envelope, routing_key
from flageval_contracts.schema_export import json_schemas, main


def test_envelope_round_trip_keeps_every_field() -> None:
    env = new_envelope(
        "user.registered",
        {"user_id": str(uuid.uuid4()), "email": "a@b.org", "username": "ann"},
        producer="gateway",
        correlation_id="abc123",
    )
    again = Envelope.from_bytes(env.to_bytes())
    assert again == env
    assert again.version == 1
    assert again.occurred_at.tzinfo is not None


def test_payload_is_validated_against_the_registered_schema() -> None:
    with pytest.raises(ValidationError):
        new_envelope("user.registered", {"user_id": "not-a-uuid"}, producer="gateway")
    with pytest.raises(ValidationError):  # unknown fields are refused, not silently dropped
        new_envelope(
            "run.stop_requested",
            {"run_id": str(uuid.uuid4()), "requested_by": str(uuid.uuid4()), "extra": 1},
            producer="eval-api",
        )


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(KeyError):
        new_envelope("user.exploded", {}, producer="gateway")
    with pytest.raises(KeyError):
        routing_key("nope.nope")


@pytest.mark.parametrize("bad", ["", "User.registered", "registered", "a..b", "a.b-c", "x" * 200])
def test_envelope_type_must_be_a_dotted_lowercase_name(bad: str) -> None:
    with pytest.raises(ValidationError):
        Envelope(type=bad, producer="gateway")


def test_envelope_rejects_unknown_fields_and_bad_versions() -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate({"type": "user.registered", "producer": "g", "surprise": 1})
    with pytest.raises(ValidationError):
        Envelope(type="user.registered", producer="g", version=0)


def test_every_event_named_in_the_spec_is_registered() -> None:
    for name in (
        "user.registered",
        "user.reviewed",
        "bundle.ready",
        "run.requested",
        "run.stop_requested",
        "run.finished",
        "image.reviewed",
        "image.imported",
    ):
        assert name in EVENTS
        assert routing_key(name) == name


def test_schema_export_writes_one_valid_json_schema_per_event(tmp_path) -> None:
    schemas = json_schemas()
    assert set(schemas) == {"envelope"} | {f"{t}.v{s.version}" for t, s in EVENTS.items()}
    assert main([str(tmp_path)]) == 0
    written = {p.stem for p in tmp_path.glob("*.json")}
    assert written == set(schemas)
    run_requested = json.loads((tmp_path / "run.requested.v1.json").read_text())
    assert "run_id" in run_requested["properties"]
    assert "run_id" in run_requested["required"]
