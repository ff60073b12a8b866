"""A client of a C2PA Soft Binding Resolution API: another installation's manifest repository.

It speaks the API's routes and shapes (C2PA 2.4, "C2PA Soft Binding API" 2.3.0), so it works
with any repository that implements them, plus DeepShield's extensions: ``register_manifest``
sends the store, its bindings and its metadata (the watermark key id included) in one JSON
request (``spec_only=True`` sends the API's own two steps instead: the ``application/c2pa`` body,
then ``POST /bindings`` per value); ``own_watermark_key`` fetches the provider's own secret
watermark key, which the repository holds and reads its marks with (docs/WATERMARK_KEYS.md).

Failures are DeepShield errors: an answer in the 4xx range becomes the matching error (400
``InvalidRequest``, 401 ``Unauthorized``, 403 ``Forbidden``, 404 ``NotFound``, 409 ``Conflict``,
413 ``MediaTooLarge``, 429 ``RateLimited``); no answer, or a 5xx, is ``RepositoryUnavailable``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from deepshield.errors import (
    Category,
    Conflict,
    DeepShieldError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unauthorized,
)
from deepshield.media.errors import MediaTooLarge

DEFAULT_TIMEOUT_S = 30.0
#: Longer queries go in a POST body, as the API advises (414 otherwise).
_MAX_QUERY_URL_CHARS = 2000
_MANIFEST_ID_SAFE = ":@!$&'()*+,;=-._~"


class RepositoryUnavailable(DeepShieldError):
    """The repository could not be reached, timed out, or failed (5xx)."""

    code = "repository_unavailable"
    category = Category.UNAVAILABLE


@dataclass(frozen=True)
class RepositoryMatch:
    manifest_id: str
    similarity_score: int | None  # 0-100 where the repository gives one
    endpoint: str | None  # another repository to fetch the manifest from; None: this one


_ERRORS: dict[int, type[DeepShieldError]] = {400: InvalidRequest, 401: Unauthorized, 403: Forbidden,
                                             404: NotFound, 409: Conflict, 413: MediaTooLarge,
                                             415: InvalidRequest, 422: InvalidRequest}


class RepositoryClient:
    """Synchronous client for the repository at ``base_url`` (for DeepShield, the server root).

    ``api_key`` is sent as ``Authorization: Bearer`` on every call; writes need one whose role may
    write manifests. Use as a context manager, or call ``close()``.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidRequest(f"a repository URL starts with http:// or https://; got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                  transport=transport)

    def __enter__(self) -> RepositoryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- Transport ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise RepositoryUnavailable(f"the manifest repository at {self.base_url} did not answer in "
                                        f"time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise RepositoryUnavailable(f"cannot reach the manifest repository at {self.base_url}: "
                                        f"{exc}") from None
        if response.status_code < 400:
            return response
        detail = _error_detail(response)
        if response.status_code == 429:
            retry = response.headers.get("retry-after", "")
            raise RateLimited(f"the manifest repository refused: {detail}",
                              int(retry) if retry.isdigit() else 60)
        error = _ERRORS.get(response.status_code)
        if error is None:
            raise RepositoryUnavailable(f"the manifest repository at {self.base_url} answered "
                                        f"{response.status_code}: {detail}")
        raise error(f"the manifest repository refused ({response.status_code}): {detail}")

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise RepositoryUnavailable(f"the manifest repository at {self.base_url} answered with "
                                        "something other than JSON") from None

    def _matches(self, response: httpx.Response) -> list[RepositoryMatch]:
        body = self._json(response)
        items = body.get("matches") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise RepositoryUnavailable("the manifest repository's answer has no 'matches' list")
        matches = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("manifestId"), str):
                raise RepositoryUnavailable("a match in the repository's answer has no manifestId")
            score = item.get("similarityScore")
            endpoint = item.get("endpoint")
            matches.append(RepositoryMatch(item["manifestId"], score if isinstance(score, int) else None,
                                           endpoint if isinstance(endpoint, str) else None))
        return matches

    # --- Queries and fetches -----------------------------------------------------------------

    def supported_algorithms(self) -> dict[str, list[dict[str, str]]]:
        """``{"watermarks": [{"alg"}], "fingerprints": [{"alg"}]}``."""
        body = self._json(self._request("GET", "/services/supportedAlgorithms"))
        if not isinstance(body, dict):
            raise RepositoryUnavailable("the repository's supportedAlgorithms answer is not an object")
        return body

    def matches_by_binding(self, alg: str, value: str, max_results: int = 10) -> list[RepositoryMatch]:
        """Manifests bound to a soft-binding value (GET, or POST when the value is long)."""
        params = {"alg": alg, "value": value, "maxResults": max_results}
        url = httpx.URL(self.base_url + "/matches/byBinding", params=params)
        if len(str(url)) <= _MAX_QUERY_URL_CHARS:
            return self._matches(self._request("GET", "/matches/byBinding", params=params))
        return self._matches(self._request("POST", "/matches/byBinding", params={"maxResults": max_results},
                                           json={"alg": alg, "value": value}))

    def matches_by_content(self, data: bytes, *, content_type: str = "application/octet-stream",
                           alg: str | None = None, max_results: int = 10, hint_alg: str | None = None,
                           hint_value: str | None = None) -> list[RepositoryMatch]:
        """Manifests matching an asset; the asset is the request body."""
        params: dict[str, Any] = {"maxResults": max_results}
        if alg is not None:
            params["alg"] = alg
        if hint_alg is not None and hint_value is not None:
            params.update(hintAlg=hint_alg, hintValue=hint_value)
        return self._matches(self._request("POST", "/matches/byContent", params=params, content=data,
                                           headers={"Content-Type": content_type}))

    def get_manifest(self, manifest_id: str, *, active_only: bool = False) -> bytes:
        """The manifest store (``application/c2pa`` bytes) registered under ``manifest_id``."""
        params = {"returnActiveManifest": "true"} if active_only else None
        return self._request("GET", f"/manifests/{quote(manifest_id, safe=_MANIFEST_ID_SAFE)}",
                             params=params).content

    # --- Writes (need a key) ------------------------------------------------------------------

    def register_manifest(self, manifest_id: str, manifest_store: bytes,
                          bindings: Sequence[tuple[str, str]] = (), *, label_id: str | None = None,
                          generator: str = "", model: str | None = None,
                          created_at: datetime | None = None, spec_only: bool = False,
                          watermark_key_id: str | None = None, keypoints: bytes | None = None) -> str:
        """Store a manifest store with its ``(alg, value)`` bindings; returns the manifest id the
        repository gives it. Registering the same store again is accepted. ``watermark_key_id``
        names the key of the label's mark (``public``, or the provider's key id), ``keypoints`` the
        output's local features (``signals.keypoints``); the API's own two steps (``spec_only``)
        cannot say them, and the repository then takes the public key and keeps no features."""
        if spec_only:
            response = self._request("POST", "/manifests", content=manifest_store,
                                     headers={"Content-Type": "application/c2pa"})
            stored_id = self._manifest_id(response)
            self.add_bindings(stored_id, bindings)
            return stored_id
        body: dict[str, Any] = {
            "manifestId": manifest_id,
            "manifestStore": base64.b64encode(manifest_store).decode("ascii"),
            "bindings": [{"alg": alg, "value": value} for alg, value in bindings],
            "generator": generator,
        }
        if label_id is not None:
            body["labelId"] = label_id
        if model is not None:
            body["model"] = model
        if created_at is not None:
            body["createdAt"] = created_at.isoformat()
        if watermark_key_id is not None:
            body["watermarkKeyId"] = watermark_key_id
        if keypoints is not None:
            body["keypoints"] = base64.b64encode(keypoints).decode("ascii")
        return self._manifest_id(self._request("POST", "/manifests", json=body))

    def own_watermark_key(self) -> dict[str, Any]:
        """This API key's provider's own secret watermark key, as an exported key file's JSON
        content (``POST /v1/watermark/key``: the repository makes it on first use). Needs a key
        whose role may label; the caller parses and checks it."""
        body = self._json(self._request("POST", "/v1/watermark/key"))
        if not isinstance(body, dict):
            raise RepositoryUnavailable("the repository's watermark key answer is not an object")
        return body

    def _manifest_id(self, response: httpx.Response) -> str:
        body = self._json(response)
        if not isinstance(body, dict) or not isinstance(body.get("manifestId"), str):
            raise RepositoryUnavailable("the repository's answer to POST /manifests has no manifestId")
        return body["manifestId"]  # type: ignore[no-any-return]

    def add_bindings(self, manifest_id: str, bindings: Sequence[tuple[str, str]]) -> None:
        """Bind each ``(alg, value)`` to the manifest: one ``POST /bindings`` per value, in the
        API's shape ``{"bindingValue", "manifestId"}`` (DeepShield infers the algorithm)."""
        for _alg, value in bindings:
            self._request("POST", "/bindings", json={"bindingValue": value, "manifestId": manifest_id})

    def replace_bindings(self, manifest_id: str, bindings: Sequence[tuple[str, str]]) -> None:
        """Point existing binding values at ``manifest_id`` instead (``PUT /bindings``)."""
        for _alg, value in bindings:
            self._request("PUT", "/bindings", json={"bindingValue": value, "manifestId": manifest_id})


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]  # type: ignore[no-any-return]
    return str(body)[:300]
