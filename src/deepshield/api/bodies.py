"""JSON request bodies validated with the route's model, errors in the API's own shape."""

from __future__ import annotations

from typing import TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from deepshield.errors import InvalidRequest

Model = TypeVar("Model", bound=BaseModel)


async def read_json(request: Request, model: type[Model]) -> Model:
    """Parse the body as ``model``; a wrong content type is 400, an invalid body 422 naming the field.

    Reading the body here, after authentication, means an anonymous caller gets 401, never a
    validation error about a body it was not allowed to send.
    """
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        raise InvalidRequest("send a multipart/form-data file, or an application/json body")
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        # The same 422 "invalid_request" that FastAPI gives the bodies it validates itself.
        raise RequestValidationError(exc.errors(include_url=False)) from None
