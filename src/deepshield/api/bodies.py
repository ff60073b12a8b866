"""Request bodies: the one reader every route uses, streamed and never read past its limit.

A route reads its body here, after authentication, so an anonymous caller gets 401, never a
validation error about a body it was not allowed to send. Each route passes the size rule of the
service it serves (``BodyLimit``; the services own the numbers) or, when its service sets none,
the door's own bound ``JSON_BODY``. The answers are the same on every route:

- 400 ``invalid_request`` for a body of another content type (``content_type``), refused unread;
- 413 with the limit's code for a body over the limit: a ``Content-Length`` over it is refused
  before a byte is read, and a body sent without one is read until the limit is passed and no
  further (nothing beyond the limit is ever buffered);
- 422 ``invalid_request`` naming the field for JSON that is malformed or breaks the route's model.

``BodySizeLimit`` (api/uploads.py) stays the outer bound of every body, multipart uploads included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from deepshield.errors import Category, DeepShieldError, InvalidRequest
from deepshield.media.errors import MediaTooLarge

Model = TypeVar("Model", bound=BaseModel)

JSON = "application/json"
#: The door's own bound for a JSON body whose service sets none (a bank, an entry's flag, ...).
MAX_JSON_BODY_BYTES = 1024 * 1024
#: What a route that takes JSON only says to a body of another type.
SEND_JSON = "send an application/json body"
#: What a route that takes a file or JSON says to a body of another type.
SEND_FILE_OR_JSON = "send a multipart/form-data file, or an application/json body"


class BodyTooLarge(DeepShieldError):
    """A JSON body over the route's limit (413), where no more particular code applies."""

    code = "body_too_large"
    category = Category.TOO_LARGE


@dataclass(frozen=True)
class BodyLimit:
    """How many bytes a route reads at most, and the error (413) that refuses a larger body.

    ``too_large`` is built with the message alone. Its default, ``media_too_large``, is the code
    every body over a limit has always had outside the case and manifest routes."""

    max_bytes: int
    too_large: type[DeepShieldError] = MediaTooLarge


#: The limit of a JSON route whose service sets none.
JSON_BODY = BodyLimit(MAX_JSON_BODY_BYTES)


def media_type(value: str) -> str:
    """The media type of a ``Content-Type`` value: lowercased, without its parameters ("" if none)."""
    return value.split(";", 1)[0].strip().lower()


def content_type(request: Request) -> str:
    """The request's media type (``media_type`` of its ``Content-Type`` header): the one way the
    API decides what a body is."""
    return media_type(request.headers.get("content-type", ""))


async def read_bytes(request: Request, limit: BodyLimit, what: str = "the request body") -> bytes:
    """The whole body, at most ``limit.max_bytes`` of it; over that raises ``limit.too_large``
    (413) naming ``what`` and the limit. A declared ``Content-Length`` over the limit is refused
    before anything is read; otherwise the stream is read until the limit would be passed, and
    the chunk that would pass it is never kept."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit.max_bytes:
        raise _too_large(limit, what)
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit.max_bytes:
            raise _too_large(limit, what)
        body.extend(chunk)
    return bytes(body)


async def read_json(request: Request, model: type[Model], limit: BodyLimit = JSON_BODY, *,
                    wrong_type: str = SEND_JSON, optional: bool = False) -> Model:
    """The JSON body as ``model``: 400 ``wrong_type`` for a body that is not ``application/json``
    (not read), 413 over ``limit`` (``read_bytes``), 422 naming the field for anything invalid.

    With ``optional``, an empty body, of any content type, means the model's defaults (for
    actions with only optional fields, like a case's ``withdraw``)."""
    if content_type(request) != JSON:
        # An optional body may come with no content type at all: only an empty one is let by.
        if optional and not (await read_bytes(request, limit, "the JSON body")).strip():
            return model()
        raise InvalidRequest(wrong_type)
    body = await read_bytes(request, limit, "the JSON body")
    if optional and not body.strip():
        return model()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        # The same 422 "invalid_request" that FastAPI gives the bodies it validates itself.
        raise RequestValidationError(exc.errors(include_url=False)) from None


def json_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """OpenAPI ``openapi_extra`` describing a JSON request body of ``model`` (the routes read
    their bodies themselves, so FastAPI cannot describe them)."""
    return {"requestBody": {"required": required, "content": {JSON: {"schema": model.model_json_schema()}}}}


def _too_large(limit: BodyLimit, what: str) -> DeepShieldError:
    return limit.too_large(f"{what} is larger than the limit of {limit.max_bytes:,} bytes")
