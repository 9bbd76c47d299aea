"""JSON responses serialized by orjson into bytes (FastAPI's ORJSONResponse is deprecated)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response


def json_response(data: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return raw_json_response(orjson.dumps(data), status_code, headers)


def raw_json_response(body: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")


def next_page_link(limit: int, next_before: int | None) -> str | None:
    """The `Link` header naming the next page; relative, so a cached page carries it whatever host was used."""
    return f'</posts/?limit={limit}&before={next_before}>; rel="next"' if next_before else None
