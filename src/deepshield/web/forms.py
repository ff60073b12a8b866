"""Reading the pages' forms: bounded in size, and refused without this site's anti-forgery token.

Every form the door renders carries a hidden ``form_token`` (``templating``): the session's token
(``services.web_sessions.form_token``) on signed-in pages, or the browser's ``ds_form`` cookie
value on the public ones (double submit: a cross-site page can neither read the cookie nor
guess the value). A form without it, or with another, is refused with ``FormRefused`` (403) and
nothing it asked for is done.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.datastructures import FormData

from deepshield.api.bodies import BodyLimit, content_type, read_bytes
from deepshield.errors import Forbidden, InvalidRequest
from deepshield.web.sessions import FORM_COOKIE, form_token_of

FORM_TOKEN_FIELD = "form_token"
#: The largest form a page takes (text fields only; files go to the routes that take uploads).
MAX_FORM_BYTES = 64 * 1024
#: The most fields one form may carry.
MAX_FORM_FIELDS = 200
FORM_REFUSED = ("this form has expired or did not come from this site, so nothing was done; "
                "go back, reload the page and try again")
URLENCODED = "application/x-www-form-urlencoded"


class FormRefused(Forbidden):
    code = "form_refused"


def check_form_token(request: Request, submitted: str) -> None:
    """Raise ``FormRefused`` unless ``submitted`` is this request's anti-forgery token."""
    expected = form_token_of(request)
    if getattr(request.state, "session_token", ""):
        valid = bool(submitted) and hmac.compare_digest(expected, submitted)
    else:
        # A public form: the value must be the one in the browser's own ds_form cookie.
        cookie = request.cookies.get(FORM_COOKIE, "")
        valid = bool(cookie) and bool(submitted) and hmac.compare_digest(cookie, submitted)
    if not valid:
        raise FormRefused(FORM_REFUSED)


async def read_form(request: Request, *, max_bytes: int = MAX_FORM_BYTES) -> FormData:
    """The submitted form's fields (``.get(name)``, ``.getlist(name)``; the token removed), after
    checking its anti-forgery token. Refuses a body of another type (400), over ``max_bytes`` (413), with too
    many fields (400), or without the token (403)."""
    if content_type(request) != URLENCODED:
        raise InvalidRequest("send the form as application/x-www-form-urlencoded")
    body = await read_bytes(request, BodyLimit(max_bytes), "the form")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form could not be read (not UTF-8, or too many fields)") from None
    submitted = [value for name, value in pairs if name == FORM_TOKEN_FIELD]
    check_form_token(request, submitted[-1] if submitted else "")
    return FormData([(name, value) for name, value in pairs if name != FORM_TOKEN_FIELD])
