"""OpenAPI fragments shared by routes that take a multipart file."""

from __future__ import annotations

from typing import Any

from deepshield.api.schemas import ErrorBody

FILE_UPLOAD: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Invalid input: corrupt media or malformed hash",
        401: "Missing or invalid API key",
        403: "The key's role may not do this",
        413: "Too large: bytes, pixels, frames or duration over the limits",
        415: "Not a supported image or video format",
        422: "Invalid request body, or a hash of too low quality",
        # Found by fuzzing the API from this description (bench/fuzz_api.py): routes that name a
        # bank, an entry, a case or an item answer 404 when there is none (or the caller may not
        # see it) and 409 when the change conflicts with its state; a Basic (case number and PIN)
        # sign-in is rate-limited per address; and any route answers 503 while the store is down
        # or, for media work, while the process's heavy-work slots are full (with Retry-After).
        404: "Not found: no such bank, entry, case or item, or not visible to this caller",
        409: "Conflict: not possible in the current state",
        429: "Too many requests from this address; retry after the Retry-After header's seconds",
        503: "Unavailable: the store is down, or the server is busy; retry after Retry-After",
    }.items()
}
