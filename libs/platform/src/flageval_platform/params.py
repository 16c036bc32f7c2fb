"""Query parameters every list endpoint shares, bounded once.

An unbounded integer reaches the database as given: ``offset=9223372036854775808`` overflows
SQLite's 64-bit integers (a 500) and a huge ``limit`` asks for every row. Routers declare
``limit: Limit = 50, offset: Offset = 0``; values out of range are a 422 before any query runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

#: The most rows one page may ask for.
MAX_LIMIT = 500
#: The deepest a client may page; far beyond any real list, far below 64-bit overflow.
MAX_OFFSET = 10_000_000

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Most items to return (1 to {MAX_LIMIT}).")
]
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description=f"Items to skip (0 to {MAX_OFFSET:,}).")
]
