"""The OpenAPI page at /docs loads only from this server (Swagger UI of swagger-ui-bundle-v2): works offline."""

from __future__ import annotations

import re


def test_docs_page_loads_only_local_assets(client):
    html = client.get("/docs").text
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
    assert "/static/swagger-ui/swagger-ui-bundle.js" in urls
    assert "/static/swagger-ui/swagger-ui.css" in urls
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls
    js = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and "SwaggerUIBundle" in js.text
    assert client.get("/static/swagger-ui/swagger-ui.css").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "biodiv-obs"


def test_redoc_is_off(client):
    assert client.get("/redoc").status_code == 404


def test_htmx_2_is_served_locally(client):
    js = client.get("/static/htmx/htmx.min.js")
    assert js.status_code == 200
    assert 'version:"2.' in js.text.replace(" ", "")
