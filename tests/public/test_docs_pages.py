"""The docs a partner's engineer reads: the guide, and the reference with its assets."""


def test_the_guide_is_served_as_html_with_a_link_to_the_reference(app):
    client = app.test_client()
    r = client.get("/docs")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "<h1>Waybill partner API (v1)</h1>" in page and "<table>" in page
    assert 'href="/api/v1/reference"' in page
    for section in ("POST /api/v1/orders/bulk", "POST /api/v1/orders/csv", "webhook-endpoints", "Labels"):
        assert section in page, section


def test_the_reference_loads_swagger_ui_installed_from_npm(app):
    client = app.test_client()
    page = client.get("/api/v1/reference").get_data(as_text=True)
    assert "/vendor/swagger-ui-dist/swagger-ui-bundle.js" in page
    asset = client.get("/vendor/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000
    asset.close()
    assert client.get("/vendor/left-pad/index.js").status_code == 404
    assert client.get("/vendor/@zxing/browser/umd/zxing-browser.min.js").status_code == 200  # a scoped package
    assert client.get("/vendor/@zxing/library/umd/index.min.js").status_code == 404  # installed, not served
    assert client.get("/vendor/swagger-ui-dist/../../pyproject.toml").status_code == 404
