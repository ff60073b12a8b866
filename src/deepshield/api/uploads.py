"""Uploads read into memory, never spooled to disk, with a hard byte cap.

Starlette's own form parser spools files over 1 MB to a temporary file; a victim's
image must not touch the disk, so the multipart body is parsed here, in memory,
with python-multipart's streaming parser.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepshield.api.bodies import content_type
from deepshield.errors import InvalidRequest
from deepshield.media.errors import EmptyMedia, MediaTooLarge

# Room for multipart headers and boundaries around the file itself.
_MULTIPART_OVERHEAD = 64 * 1024
_MAX_TEXT_FIELD = 4096


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes
    fields: dict[str, str]


def is_multipart(request: Request) -> bool:
    """Whether the body is declared a multipart form (an upload); ``read_upload`` checks the rest."""
    return content_type(request) == "multipart/form-data"


async def read_upload(request: Request, max_bytes: int,
                      field: str | tuple[str, ...] = "file") -> Upload:
    """The one file in form field ``field`` plus small text fields, all in memory.

    ``field`` may list several accepted names (HMA names the field after the content type,
    ``photo`` or ``video``); the form must then use exactly one of them.
    """
    names = (field,) if isinstance(field, str) else field
    parts, filenames = await _read_form(request, max_bytes, names,
                                        f"send the file as multipart/form-data in a field named {names[0]!r}")
    present = [name for name in names if name in parts]
    if len(present) != 1:
        wanted = " or ".join(repr(name) for name in names)
        raise InvalidRequest(f"the form must have one file field, named {wanted}")
    field = present[0]
    data = bytes(parts.pop(field))
    if not data:
        raise EmptyMedia("the uploaded file is empty (0 bytes)")
    fields = {name: bytes(value).decode("utf-8", "replace") for name, value in parts.items()}
    return Upload(filenames.get(field), data, fields)


async def read_uploads(request: Request, max_bytes: int, names: tuple[str, ...]) -> dict[str, Upload]:
    """One file in each of the form fields ``names`` (all required, none empty), in memory; the
    whole body stays within ``max_bytes`` (``BodySizeLimit``). Other fields are refused."""
    form = await read_files(request, max_bytes, names)
    if form.fields:
        unexpected = ", ".join(repr(name) for name in sorted(form.fields))
        raise InvalidRequest(f"unexpected form fields: {unexpected}")
    return form.files


@dataclass(frozen=True)
class FormFiles:
    """A multipart form's files by field name (only those sent) and its small text fields."""

    files: dict[str, Upload]
    fields: dict[str, str]


async def read_files(request: Request, max_bytes: int, required: tuple[str, ...],
                     optional: tuple[str, ...] = ()) -> FormFiles:
    """One file in each of the fields ``required`` and at most one in each of ``optional``, plus
    small text fields, all in memory; each part at most ``max_bytes`` and the whole body within
    ``BodySizeLimit``, so the files together stay within the upload limit.

    A browser sends a file input left empty as a part with no file name and no bytes: such an
    optional field counts as not sent. A chosen file of 0 bytes is ``EmptyMedia``, as a required
    field that is missing or empty is.
    """
    names = (*required, *optional)
    listed = " and ".join(repr(name) for name in required)
    how = (f"send the file as multipart/form-data in a field named {listed}" if len(required) == 1
           else f"send the files as multipart/form-data in fields named {listed}")
    parts, filenames = await _read_form(request, max_bytes, names, how)
    missing = [name for name in required if name not in parts]
    if missing:
        fields = "file field" if len(required) == 1 else "file fields"
        raise InvalidRequest(f"the form must have the {fields} {listed}; missing: "
                             + ", ".join(repr(name) for name in missing))
    files: dict[str, Upload] = {}
    for name in names:
        if name not in parts:
            continue
        data = bytes(parts.pop(name))
        if not data and name in optional and not filenames.get(name):
            continue
        if not data:
            what = "file" if name == "file" else f"{name} file"
            raise EmptyMedia(f"the uploaded {what} is empty (0 bytes)")
        files[name] = Upload(filenames.get(name), data, {})
    fields = {name: bytes(value).decode("utf-8", "replace") for name, value in parts.items()}
    return FormFiles(files, fields)


async def _read_form(request: Request, max_bytes: int, names: tuple[str, ...], how: str
                     ) -> tuple[dict[str, bytearray], dict[str, str | None]]:
    """The multipart body's parts by field name, and their file names. Fields outside ``names``
    are text fields of at most ``_MAX_TEXT_FIELD`` bytes; ``how`` is the error for a body that is
    not a multipart form."""
    field = names[0]
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise InvalidRequest(how)
    parts: dict[str, bytearray] = {}
    filenames: dict[str, str | None] = {}
    current: dict[str, object] = {}
    header_name = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        current.clear()
        current["headers"] = {}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        current["headers"][bytes(header_name).lower()] = bytes(header_value)  # type: ignore[index]
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        headers = current["headers"]
        _, options = parse_options_header(headers.get(b"content-disposition", b""))  # type: ignore[attr-defined]
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name in parts:
            raise InvalidRequest(f"the form field {name!r} appears more than once")
        if len(parts) >= 8:
            raise InvalidRequest("too many form fields")
        current["name"] = name
        parts[name] = bytearray()
        raw_filename = options.get(b"filename")
        filenames[name] = raw_filename.decode("utf-8", "replace") if raw_filename else None

    def on_part_data(data: bytes, start: int, end: int) -> None:
        name = current["name"]
        buffer = parts[name]  # type: ignore[index]
        buffer.extend(data[start:end])
        if name not in names and len(buffer) > _MAX_TEXT_FIELD:
            where = f"a field named {field!r}" if len(names) == 1 else \
                "the fields " + " and ".join(repr(known) for known in names)
            raise InvalidRequest(f"the form field {name!r} is over {_MAX_TEXT_FIELD:,} bytes; "
                                 f"send the file in {where}")
        if len(buffer) > max_bytes:
            raise MediaTooLarge(f"the upload is larger than the limit of {max_bytes:,} bytes")

    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
    })
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidRequest(f"the multipart body is malformed: {exc}") from None
    return parts, filenames


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` (declared or streamed) with 413 before reading them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + _MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise MediaTooLarge(
                        f"the request body is larger than the limit of {self.max_bytes:,} bytes"
                    )
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, limit: int) -> None:
    body = (b'{"error":"media_too_large","detail":"the request body is larger than the limit of '
            + f"{limit:,}".encode() + b' bytes"}')
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
