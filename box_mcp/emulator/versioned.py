"""Box's year-versioned endpoints (hubs, Doc Gen, ...): they answer only with `box-version: 2025.0`.

Box's "Versioning errors" page: a versioned-only endpoint called without the header answers 400
`invalid_api_version` "Missing required box-version header."; with a version it does not serve,
"Unsupported API version specified in 'box-version' header." (the middleware already refuses versions
Box has never had, empty values and several values).
"""

from __future__ import annotations

from starlette.requests import Request

from .errors import BoxError

V2025 = "2025.0"


def require(request: Request, version: str = V2025) -> None:
    """Raise Box's 400 unless the request names `version` in its `box-version` header."""
    given = request.headers.get("box-version")
    if given is None:
        raise BoxError(
            400,
            "invalid_api_version",
            f"Missing required box-version header. Supported API versions: [{version}].",
        )
    if given.strip() != version:
        raise BoxError(
            400,
            "invalid_api_version",
            "Unsupported API version specified in 'box-version' header. "
            f"Supported API versions: [{version}].",
        )
