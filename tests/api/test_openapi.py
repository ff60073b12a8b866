"""The API documents itself: /openapi.json lists every route and /docs serves the explorer."""

from __future__ import annotations

EXPECTED_OPERATIONS = {
    ("get", "/v1/health"),
    ("get", "/v1/banks"),
    ("post", "/v1/banks"),
    ("post", "/v1/hash"),
    ("post", "/v1/match"),
    ("post", "/v1/banks/{name}/entries"),
    ("delete", "/v1/banks/{name}/entries/{entry_id}"),
    ("patch", "/v1/banks/{name}/entries/{entry_id}"),
    ("post", "/v1/watermark/detect"),
    ("get", "/v1/exchange/updates"),
    ("post", "/v1/exchange/feedback"),
    # HMA-compatible (docs/HMA.md)
    ("get", "/h/hash"),
    ("post", "/h/hash"),
    ("get", "/m/lookup"),
    ("post", "/m/lookup"),
    ("get", "/m/raw_lookup"),
    ("get", "/m/index/status"),
    ("get", "/status"),
    # The C2PA Soft Binding Resolution API (docs/SOFT_BINDING_API.md)
    ("get", "/matches/byBinding"),
    ("post", "/matches/byBinding"),
    ("post", "/matches/byContent"),
    ("post", "/manifests"),
    ("get", "/manifests/{manifestId}"),
    ("post", "/bindings"),
    ("put", "/bindings"),
    ("get", "/services/supportedAlgorithms"),
    ("post", "/v1/verify"),
}


def test_openapi_lists_every_route(api):
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations == EXPECTED_OPERATIONS
    assert document["info"]["title"] == "DeepShield"


def test_openapi_describes_uploads_and_json_bodies(api):
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/v1/hash", "/v1/match", "/v1/banks/{name}/entries"):
        content = paths[path]["post"]["requestBody"]["content"]
        assert "file" in content["multipart/form-data"]["schema"]["properties"], path
    for path in ("/v1/match", "/v1/banks/{name}/entries"):
        assert "application/json" in paths[path]["post"]["requestBody"]["content"], path
    for status in ("400", "401", "403", "413", "415", "422"):
        assert status in paths["/v1/match"]["post"]["responses"], status


def test_docs_page_is_served(api):
    response = api.client.get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text
