"""The takedown request form: parsing, validation, and what an incomplete request lacks.

The form is a plain dict (JSON from the API, a file at the CLI)::

    {
      "requester_role": "victim" | "representative" | "helpline",
      "signature": {"name": "typed name", "statement_ticked": true},
      "locations": [{"url": "https://..."}, {"item_id": "..."}],
      "hashes": [{"type": "pdq", "value": "<hex>", "quality": 90}],   # made on the device
      "good_faith": true,
      "contact": {"email": "...", "webhook_url": "https://..."},       # webhook: helplines
      "jurisdiction": {"depicted_person_country": "GB", "platform_countries": ["US"]},
      "age_check": {"depicted_under_18": false},
      "safety_check": {"in_immediate_danger": false}
    }

Two kinds of problem are told apart:

- **Malformed** values (a wrong type, bad hex, a URL that is not http(s), an unknown field,
  anything that looks like an image) raise ``InvalidRequest`` naming the field, and nothing
  is written.
- **Missing** or unticked required items do not reject the request: it is kept as
  ``incomplete`` and ``missing`` lists one sentence per field, naming it, so the requester
  can add what it lacks.

The image never leaves the victim's device: a field holding what looks like image data (a
data: URI, a base64 blob over 4 KiB, bytes) is refused with "send hashes made on your device,
never the image". Hash values are checked for shape here and for quality by the service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from deepshield.errors import InvalidRequest

REQUESTER_ROLES = ("victim", "representative", "helpline")
#: What the signature's tick box declares.
SIGNATURE_STATEMENT = ("I declare the information in this request is accurate and I am the person "
                       "depicted or authorised to act for them")
#: What the good-faith tick box declares.
GOOD_FAITH_STATEMENT = "I have a good-faith belief the depiction was published without consent"
#: Where a request about someone under 18 goes instead.
UNDER_18_REFERRAL = "NCMEC Take It Down: https://takeitdown.ncmec.org/"
SAFETY_ADVICE = ("If you are in immediate danger, contact your local emergency services now "
                 "(911 in the US, 999 in the UK, 000 in Australia, 112 in the EU).")
HASH_TYPES = ("pdq", "md5", "sha256", "vpdq")

MAX_LOCATIONS = 100
MAX_HASHES = 100
MAX_URL_CHARS = 2048
MAX_ITEM_ID_CHARS = 200
MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 254
MAX_WEBHOOK_CHARS = 500
MAX_PLATFORM_COUNTRIES = 60
MAX_HEX_HASH_CHARS = 128
#: A vPDQ value holds one line per second of video; this is about 13 hours.
MAX_VPDQ_CHARS = 4_000_000
#: Text over this size that looks like base64 is taken for an image sent by mistake.
IMAGE_BLOB_CHARS = 4096
_MAX_DEPTH, _MAX_NODES = 6, 5000

NEVER_THE_IMAGE = "send hashes made on your device, never the image"

_FIELDS: dict[str, tuple[str, ...]] = {
    "": ("requester_role", "signature", "locations", "hashes", "good_faith", "contact",
         "jurisdiction", "age_check", "safety_check"),
    "signature": ("name", "statement_ticked"),
    "contact": ("email", "webhook_url"),
    "jurisdiction": ("depicted_person_country", "platform_countries"),
    "age_check": ("depicted_under_18",),
    "safety_check": ("in_immediate_danger",),
}
_IMAGE_WORDS = ("image", "photo", "picture", "file", "video", "media", "base64", "blob", "thumbnail",
                "attachment", "jpeg", "jpg", "png")
_BASE64_TEXT = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
#: ISO 3166-1 alpha-2, plus XK (Kosovo, user-assigned but in common use).
COUNTRY_CODES = frozenset([
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW", "XK",
])
#: Common non-ISO spellings: the UK (GB), Greece in EU usage (GR), and the EU as a whole.
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
_PLATFORM_EXTRA = frozenset({"EU"})


@dataclass(frozen=True)
class LocationInput:
    kind: str  # url / item
    location: str


@dataclass(frozen=True)
class HashInput:
    """A hash as the requester gave it: shape-checked, not yet quality-checked."""

    signal_type: str
    value: str
    quality: int | None = None


@dataclass(frozen=True)
class RequestForm:
    """A parsed request form (or a change to one). None means "not given"."""

    requester_role: str | None = None
    signature_name: str | None = None
    statement_ticked: bool | None = None
    locations: tuple[LocationInput, ...] = ()
    hashes: tuple[HashInput, ...] = ()
    good_faith: bool | None = None
    contact_email: str | None = None
    webhook_url: str | None = None
    depicted_person_country: str | None = None
    platform_countries: tuple[str, ...] | None = None
    depicted_under_18: bool | None = None
    in_immediate_danger: bool | None = None

    def merged(self, changes: RequestForm) -> RequestForm:
        """This form with ``changes`` applied: given values replace, locations and hashes are
        added (a location already listed is not repeated)."""
        updates: dict[str, Any] = {}
        for name in ("requester_role", "signature_name", "statement_ticked", "good_faith",
                     "contact_email", "webhook_url", "depicted_person_country", "platform_countries",
                     "depicted_under_18", "in_immediate_danger"):
            value = getattr(changes, name)
            if value is not None:
                updates[name] = value
        updates["locations"] = _unique(self.locations + changes.locations)
        updates["hashes"] = _unique(self.hashes + changes.hashes)
        return replace(self, **updates)

    @property
    def countries(self) -> list[str]:
        """Every country the jurisdiction answers name (the depicted person's first)."""
        found = [self.depicted_person_country] if self.depicted_person_country else []
        return found + [c for c in (self.platform_countries or ()) if c not in found]

    def answers(self) -> dict[str, Any]:
        """The non-PII answers, as kept with the case: statements, jurisdiction, age and safety
        checks, and whether a signature and contact were given (never their values)."""
        return {
            "requester_role": self.requester_role,
            "signature_given": bool(self.signature_name),
            "statement_ticked": self.statement_ticked,
            "good_faith": self.good_faith,
            "contact_given": bool(self.contact_email),
            "webhook_given": bool(self.webhook_url),
            "jurisdiction": {"depicted_person_country": self.depicted_person_country,
                             "platform_countries": list(self.platform_countries)
                             if self.platform_countries is not None else None},
            "age_check": {"depicted_under_18": self.depicted_under_18},
            "safety_check": {"in_immediate_danger": self.in_immediate_danger},
        }


def _unique(items: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


def from_answers(answers: Mapping[str, Any], *, signature_name: str = "", contact_email: str = "",
                 webhook_url: str = "", locations: Iterable[LocationInput] = (),
                 hashes: Iterable[HashInput] = ()) -> RequestForm:
    """Rebuild a stored request from its non-PII ``answers`` (see ``RequestForm.answers``) and
    the parts kept elsewhere: contact details, locations and not-yet-banked hashes."""
    jurisdiction = answers.get("jurisdiction") or {}
    platforms = jurisdiction.get("platform_countries")
    return RequestForm(
        requester_role=answers.get("requester_role"),
        signature_name=signature_name or None,
        statement_ticked=answers.get("statement_ticked"),
        locations=tuple(locations),
        hashes=tuple(hashes),
        good_faith=answers.get("good_faith"),
        contact_email=contact_email or None,
        webhook_url=webhook_url or None,
        depicted_person_country=jurisdiction.get("depicted_person_country"),
        platform_countries=tuple(platforms) if platforms is not None else None,
        depicted_under_18=(answers.get("age_check") or {}).get("depicted_under_18"),
        in_immediate_danger=(answers.get("safety_check") or {}).get("in_immediate_danger"),
    )


def missing(form: RequestForm) -> list[str]:
    """What keeps ``form`` from being a valid request, one sentence per field, naming it.
    Empty when complete. (A request about someone under 18 is referred, not completed.)"""
    lacking = []
    if not form.requester_role:
        lacking.append("requester_role: say who is asking: victim, representative or helpline")
    if not form.signature_name:
        lacking.append("signature.name: type your name as your signature")
    if form.statement_ticked is not True:
        lacking.append("signature.statement_ticked: tick the statement that the request is accurate")
    if not form.locations and not form.hashes:
        lacking.append("locations: give at least one location (a URL or a platform item id) "
                       "or one hash made on your device")
    if form.good_faith is not True:
        lacking.append("good_faith: tick the statement that you believe in good faith the depiction "
                       "was published without consent")
    if not form.contact_email:
        lacking.append("contact.email: give an email address to reach you at (an anonymous "
                       "address is fine)")
    if form.depicted_under_18 is None:
        lacking.append("age_check.depicted_under_18: say whether the person depicted is under 18")
    return lacking


def is_under_18(form: RequestForm) -> bool:
    return form.depicted_under_18 is True


# --- parsing ------------------------------------------------------------------------------------


def _invalid(path: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {message}" if path else message)


def _looks_like_image(text: str) -> bool:
    head = text[:64].lstrip().lower()
    if head.startswith("data:") and ("image/" in head or "video/" in head or "base64" in head):
        return True
    return len(text) > IMAGE_BLOB_CHARS and _BASE64_TEXT.match(text) is not None


def _check_no_images(form: Mapping[str, Any]) -> None:
    """Refuse anything that looks like media, anywhere in the form, and absurd nesting or size,
    before any field is read."""
    stack: list[tuple[str, Any, int]] = [("", form, 0)]
    nodes = 0
    while stack:
        path, value, depth = stack.pop()
        nodes += 1
        if nodes > _MAX_NODES:
            raise InvalidRequest(f"the request form is too large (more than {_MAX_NODES} values)")
        if depth > _MAX_DEPTH:
            raise _invalid(path, "nested too deeply for a request form")
        if isinstance(value, (bytes, bytearray, memoryview)):
            raise _invalid(path, f"binary data is not accepted; {NEVER_THE_IMAGE}")
        if isinstance(value, str):
            if _looks_like_image(value):
                raise _invalid(path, f"this looks like image data; {NEVER_THE_IMAGE}")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str) or len(key) > 64:
                    raise _invalid(path, "field names must be short strings")
                stack.append((f"{path}.{key}" if path else key, item, depth + 1))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{path}[{index}]", item, depth + 1) for index, item in enumerate(value))


def _check_fields(path: str, value: Mapping[str, Any], known: Sequence[str], has: str) -> None:
    """Refuse a field not in ``known`` ("unknown field; " + ``has``); one whose name sounds
    like image data is told to send hashes instead."""
    for key in value:
        if key in known:
            continue
        where = f"{path}.{key}" if path else key
        if isinstance(key, str) and any(word in key.lower() for word in _IMAGE_WORDS):
            raise _invalid(where, NEVER_THE_IMAGE)
        raise _invalid(where, f"unknown field; {has}")


def _section(form: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = form.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(name, "must be an object")
    _check_fields(name, value, _FIELDS[name], f"this part has {', '.join(_FIELDS[name])}")
    return value


def _text(value: Any, path: str, max_chars: int) -> str | None:
    """A trimmed string, None when absent or blank; malformed values raise naming ``path``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(path, "must be text")
    text = value.strip()
    if len(text) > max_chars:
        raise _invalid(path, f"at most {max_chars} characters; got {len(text)}")
    if _CONTROL.search(text):
        raise _invalid(path, "must not contain control characters")
    return text or None


def _flag(value: Any, path: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _invalid(path, "must be true or false")
    return value


def _web_url(value: str, path: str, *, https_only: bool) -> str:
    if any(char.isspace() for char in value):
        raise _invalid(path, "a URL has no spaces")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise _invalid(path, "not a valid URL") from None
    loopback = host in ("localhost", "127.0.0.1", "::1")
    schemes = ("https",) if https_only and not loopback else ("http", "https")
    if parts.scheme.lower() not in schemes or not host:
        wanted = "https://" if schemes == ("https",) else "http:// or https://"
        raise _invalid(path, f"must be a web address starting with {wanted}")
    if parts.username or parts.password:
        raise _invalid(path, "a URL with a user name or password is not accepted")
    return value


def _country(value: Any, path: str, *, extra: frozenset[str] = frozenset()) -> str:
    if not isinstance(value, str):
        raise _invalid(path, "must be a two-letter country code such as US, GB or AU")
    code = value.strip().upper()
    code = _COUNTRY_ALIASES.get(code, code)
    if code not in COUNTRY_CODES and code not in extra:
        raise _invalid(path, f"{value!r} is not an ISO 3166 two-letter country code (such as US, GB, AU)")
    return code


def _locations(value: Any) -> tuple[LocationInput, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid("locations", "must be a list of {\"url\": ...} or {\"item_id\": ...}")
    if len(value) > MAX_LOCATIONS:
        raise _invalid("locations", f"at most {MAX_LOCATIONS} per request; got {len(value)}")
    found = []
    for index, item in enumerate(value):
        path = f"locations[{index}]"
        if not isinstance(item, Mapping):
            raise _invalid(path, "must be {\"url\": ...} or {\"item_id\": ...}")
        _check_fields(path, item, ("url", "item_id"), "a location has url or item_id")
        if ("url" in item) == ("item_id" in item):
            raise _invalid(path, "give exactly one of url or item_id")
        if "url" in item:
            url = _text(item["url"], f"{path}.url", MAX_URL_CHARS)
            if url is None:
                raise _invalid(f"{path}.url", "is empty")
            found.append(LocationInput("url", _web_url(url, f"{path}.url", https_only=False)))
        else:
            item_id = _text(item["item_id"], f"{path}.item_id", MAX_ITEM_ID_CHARS)
            if item_id is None:
                raise _invalid(f"{path}.item_id", "is empty")
            found.append(LocationInput("item", item_id))
    return _unique(tuple(found))


def _hashes(value: Any) -> tuple[HashInput, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid("hashes", "must be a list of {\"type\": ..., \"value\": ...}")
    if len(value) > MAX_HASHES:
        raise _invalid("hashes", f"at most {MAX_HASHES} per request; got {len(value)}")
    found = []
    for index, item in enumerate(value):
        path = f"hashes[{index}]"
        if not isinstance(item, Mapping):
            raise _invalid(path, "must be {\"type\": ..., \"value\": ..., \"quality\": ...}")
        _check_fields(path, item, ("type", "value", "quality"), "a hash has type, value and quality")
        signal_type = item.get("type")
        if not isinstance(signal_type, str) or signal_type.strip().lower() not in HASH_TYPES:
            raise _invalid(f"{path}.type", f"must be one of {', '.join(HASH_TYPES)}")
        signal_type = signal_type.strip().lower()
        raw = item.get("value")
        if not isinstance(raw, str) or not raw.strip():
            raise _invalid(f"{path}.value", "must be the hash as text")
        if signal_type == "vpdq":
            if len(raw) > MAX_VPDQ_CHARS:
                raise _invalid(f"{path}.value", f"a vpdq value is at most {MAX_VPDQ_CHARS} characters")
            hash_value = raw.strip()
        else:
            hash_value = raw.strip()
            if len(hash_value) > MAX_HEX_HASH_CHARS or not _HEX.match(hash_value):
                raise _invalid(f"{path}.value", f"a {signal_type} hash is hex digits (0-9, a-f)")
        quality = item.get("quality")
        if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int)
                                    or not 0 <= quality <= 100):
            raise _invalid(f"{path}.quality", "must be a whole number from 0 to 100")
        found.append(HashInput(signal_type, hash_value, quality))
    return _unique(tuple(found))


def parse_form(form: Any) -> RequestForm:
    """Parse a request form (or a change to one: every field is optional).

    Raises ``InvalidRequest`` naming the field for anything malformed; never raises for what
    is merely missing (see ``missing``).
    """
    if not isinstance(form, Mapping):
        raise InvalidRequest("the request must be an object (a JSON dictionary)")
    _check_no_images(form)
    _check_fields("", form, _FIELDS[""], f"the form has {', '.join(_FIELDS[''])}")
    role = form.get("requester_role")
    if role is not None:
        if not isinstance(role, str) or role.strip().lower() not in REQUESTER_ROLES:
            raise _invalid("requester_role", f"must be one of {', '.join(REQUESTER_ROLES)}")
        role = role.strip().lower()
    signature = _section(form, "signature")
    contact = _section(form, "contact")
    jurisdiction = _section(form, "jurisdiction")
    age_check = _section(form, "age_check")
    safety_check = _section(form, "safety_check")

    email = _text(contact.get("email"), "contact.email", MAX_EMAIL_CHARS)
    if email is not None and not _EMAIL.match(email):
        raise _invalid("contact.email", "not an email address (an anonymous address is fine)")
    webhook = _text(contact.get("webhook_url"), "contact.webhook_url", MAX_WEBHOOK_CHARS)
    if webhook is not None:
        _web_url(webhook, "contact.webhook_url", https_only=True)

    depicted = jurisdiction.get("depicted_person_country")
    platforms = jurisdiction.get("platform_countries")
    platform_codes: tuple[str, ...] | None = None
    if platforms is not None:
        if not isinstance(platforms, list):
            raise _invalid("jurisdiction.platform_countries", "must be a list of two-letter country codes")
        if len(platforms) > MAX_PLATFORM_COUNTRIES:
            raise _invalid("jurisdiction.platform_countries", f"at most {MAX_PLATFORM_COUNTRIES} countries")
        platform_codes = _unique(tuple(
            _country(code, f"jurisdiction.platform_countries[{index}]", extra=_PLATFORM_EXTRA)
            for index, code in enumerate(platforms)))

    return RequestForm(
        requester_role=role,
        signature_name=_text(signature.get("name"), "signature.name", MAX_NAME_CHARS),
        statement_ticked=_flag(signature.get("statement_ticked"), "signature.statement_ticked"),
        locations=_locations(form.get("locations")),
        hashes=_hashes(form.get("hashes")),
        good_faith=_flag(form.get("good_faith"), "good_faith"),
        contact_email=email,
        webhook_url=webhook,
        depicted_person_country=(_country(depicted, "jurisdiction.depicted_person_country")
                                 if depicted is not None and depicted != "" else None),
        platform_countries=platform_codes,
        depicted_under_18=_flag(age_check.get("depicted_under_18"), "age_check.depicted_under_18"),
        in_immediate_danger=_flag(safety_check.get("in_immediate_danger"),
                                  "safety_check.in_immediate_danger"),
    )
