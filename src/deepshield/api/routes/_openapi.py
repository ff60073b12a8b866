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
    }.items()
}
