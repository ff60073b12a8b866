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
    ("post", "/v1/watermark/key"),  # a provider's own secret watermark key (docs/WATERMARK_KEYS.md)
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
    ("post", "/v1/forensics/compare"),
    ("post", "/v1/forensics/sources"),
    # Takedown cases (docs/CASES.md): intake, review, appeals, withdrawal, victims, misuse
    ("post", "/v1/requests"),
    ("post", "/v1/requests/public"),
    ("get", "/v1/cases"),
    ("get", "/v1/cases/due"),
    ("get", "/v1/cases/{case_number}"),
    ("patch", "/v1/cases/{case_number}"),
    ("post", "/v1/cases/{case_number}/acknowledge"),
    ("post", "/v1/cases/{case_number}/pause"),
    ("post", "/v1/cases/{case_number}/resume"),
    ("post", "/v1/cases/{case_number}/decision"),
    ("post", "/v1/cases/{case_number}/close"),
    ("post", "/v1/cases/{case_number}/appeals"),
    ("post", "/v1/cases/{case_number}/appeals/{appeal_id}/decision"),
    ("post", "/v1/cases/{case_number}/withdraw"),
    ("post", "/v1/cases/{case_number}/withdraw/cancel"),
    ("post", "/v1/cases/{case_number}/legal-hold"),
    ("get", "/v1/cases/{case_number}/contact"),
    ("get", "/v1/victim/status"),
    ("post", "/v1/victim/withdraw"),
    ("post", "/v1/misuse/strikes"),
    ("get", "/v1/misuse/strikes"),
    # The platform's content registry and the copy sweep's listing
    ("post", "/v1/content"),
    ("post", "/v1/content/import"),
    ("get", "/v1/content/flagged"),
    ("post", "/v1/content/{item_id}/removed"),
    # Evidence packs and the transparency report
    ("get", "/v1/cases/{case_number}/report"),
    ("post", "/v1/reports/file"),
    ("post", "/v1/reports/check"),
    ("get", "/v1/reports/transparency"),
    # The audit log and the notification outbox (admin)
    ("get", "/v1/audit/verify"),
    ("get", "/v1/audit/events"),
    ("get", "/v1/notifications"),
    ("post", "/v1/notifications/deliver"),
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
