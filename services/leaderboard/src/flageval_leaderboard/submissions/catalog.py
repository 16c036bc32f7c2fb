"""Each dataset's primary metric, as eval-api's catalog lists it (``GET /api/catalog``).

Asked when a run is published (rare), never while a board is read: the entry keeps the metric
it was published with. A dataset the catalog does not list falls back to the metrics the run
reported (:func:`flageval_leaderboard.boards.metrics.primary_score`).
"""

from __future__ import annotations

from typing import Any

from flageval_platform.identity import Identity
from flageval_platform.peers import Peers


def _metrics_of(document: Any, domain: str) -> dict[str, str]:
    try:
        datasets = document["domains"][domain]["datasets"]
        return {
            str(d["id"]): str(d["metric"])
            for d in datasets
            if isinstance(d, dict) and d.get("id") and d.get("metric")
        }
    except (KeyError, TypeError):
        return {}


async def primary_metrics(*, peers: Peers, identity: Identity, domain: str) -> dict[str, str]:
    """``{dataset id: metric name}`` of ``domain`` (503 when eval-api does not answer)."""
    document = await peers.call("eval-api", "GET", "/api/catalog", identity=identity)
    return _metrics_of(document, domain)
