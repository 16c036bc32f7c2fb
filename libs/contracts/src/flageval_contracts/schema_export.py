"""Export the JSON schema of the envelope and of every event payload.

``python -m flageval_contracts.schema_export OUT_DIR`` writes one file per event type.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from flageval_contracts.envelope import Envelope
from flageval_contracts.events import EVENTS


def json_schemas() -> dict[str, dict[str, Any]]:
    """Return ``{name: JSON schema}`` for the envelope and each ``<type>.v<version>`` payload."""
    schemas: dict[str, dict[str, Any]] = {"envelope": Envelope.model_json_schema()}
    for spec in EVENTS.values():
        schema = spec.payload.model_json_schema()
        schema["description"] = spec.description
        schemas[f"{spec.type}.v{spec.version}"] = schema
    return schemas


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "schemas")
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in json_schemas().items():
        (out / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(json_schemas())} schemas to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
