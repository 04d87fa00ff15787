"""Labels: the PDF parses, has a page per parcel, and its codes read back."""

import pypdfium2
import zxingcpp

from tests.api.test_orders import BODY, post


def pages(pdf: bytes):
    document = pypdfium2.PdfDocument(pdf)
    return [document[i] for i in range(len(document))]


def codes(page) -> dict:
    image = page.render(scale=3).to_pil()
    return {r.format.name: r.text for r in zxingcpp.read_barcodes(image)}


def test_a_label_per_parcel_with_a_barcode_and_qr_of_the_tracking_number(client, keys):
    body = {**BODY, "parcels": BODY["parcels"] * 2}
    order = post(client, keys[0], body).get_json()
    r = client.get(f"/api/v1/orders/{order['id']}/label", headers={"Authorization": f"Bearer {keys[0]}"})
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    document = pages(r.data)
    assert len(document) == 2
    width, height = document[0].get_size()
    assert (round(width), round(height)) == (288, 432)  # 4 x 6 inches
    for page in document:
        found = codes(page)
        assert found["Code128"] == order["tracking_number"]
        assert found["QRCode"].endswith(f"/track/{order['tracking_number']}")
        text = page.get_textpage().get_text_range()
        assert "SGN-D7" in text and "Lan Nguyen" in text and "Quận 7" in text
        assert "250,000 VND" in text
    assert "1/2" in document[0].get_textpage().get_text_range()


def test_bulk_labels_are_one_pdf_in_the_order_asked(client, keys):
    a = post(client, keys[0], {**BODY, "reference": "L-1"}).get_json()
    b = post(client, keys[0], {**BODY, "reference": "L-2"}).get_json()
    auth = {"Authorization": f"Bearer {keys[0]}"}
    r = client.post("/api/v1/orders/labels", json={"order_ids": [b["id"], a["id"]]}, headers=auth)
    assert r.status_code == 200
    assert [codes(p)["Code128"] for p in pages(r.data)] == [b["tracking_number"], a["tracking_number"]]
    theirs = post(client, keys[1], {**BODY, "reference": "L-3"}).get_json()
    r = client.post("/api/v1/orders/labels", json={"order_ids": [a["id"], theirs["id"]]}, headers=auth)
    assert r.status_code == 404 and r.get_json()["error"]["details"] == {"order_ids": [theirs["id"]]}


def test_without_a_unicode_font_the_text_loses_its_accents_not_its_letters(client, keys, monkeypatch):
    from app import pdf
    from app.orders import labels

    monkeypatch.setattr(pdf, "FONT_PATHS", ())
    labels.fonts.cache_clear()
    try:
        order = post(client, keys[0]).get_json()
        r = client.get(f"/api/v1/orders/{order['id']}/label", headers={"Authorization": f"Bearer {keys[0]}"})
        text = pages(r.data)[0].get_textpage().get_text_range()
        assert "Quan 7" in text and "Quận" not in text
    finally:
        labels.fonts.cache_clear()


def test_a_request_for_more_than_500_label_pages_is_refused_before_drawing(client, keys):
    """11 orders of 50 parcels (550 pages) would hold a worker for minutes: 422, at once."""
    ids = [post(client, keys[0], {**BODY, "reference": f"BIG-{i}", "parcels": BODY["parcels"] * 50},
                idem=f"big-{i}").get_json()["id"] for i in range(11)]
    r = client.post("/api/v1/orders/labels", json={"order_ids": ids}, headers={"Authorization": f"Bearer {keys[0]}"})
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "too_many_labels" and error["details"] == {"pages": 550, "max_pages": 500}
    ok = client.post("/api/v1/orders/labels", json={"order_ids": ids[:1]}, headers={"Authorization": f"Bearer {keys[0]}"})
    assert ok.status_code == 200 and len(pages(ok.data)) == 50
