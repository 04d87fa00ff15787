"""An order taken by phone: the console's form goes through the same intake rules as the
API, names what is wrong in words, and a double submit gives the one order."""
import re

from sqlalchemy import func, select

from app.auth.models import AuditEntry
from app.orders.models import Order, Shipment
from tests.auth.conftest import sign_in

FORM = {"reference": "PHONE-1", "service_level": "standard",
        "pickup_name": "Saigon Books", "pickup_phone": "028 3822 1234", "pickup_line1": "45 Le Loi",
        "pickup_district": "District 1", "pickup_city": "Ho Chi Minh City",
        "dropoff_name": "Lan Nguyen", "dropoff_phone": "0903 123 456", "dropoff_email": "lan@example.com",
        "dropoff_line1": "99 Nguyen Thi Thap", "dropoff_district": "District 7", "dropoff_city": "Ho Chi Minh City",
        "weight_grams": "1200", "length_cm": "30", "width_cm": "20", "height_cm": "10", "cod_amount": "250,000"}


def test_a_dispatcher_takes_an_order_by_phone_once(client, users, session, partner):
    sign_in(client, "disp@test.example")
    page = client.get("/console/orders/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {**FORM, "partner": partner.id, "csrf_token": token}
    bad = client.post("/console/orders/new", data={**data, "weight_grams": "1200.5", "dropoff_email": "x@y"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Parcel weight grams: must be a whole number" in text and "Customer email: is not an email address" in text
    assert 'value="99 Nguyen Thi Thap"' in text  # what was typed is kept
    first = client.post("/console/orders/new", data=data)
    again = client.post("/console/orders/new", data=data)  # a double click
    assert first.status_code == again.status_code == 302 and first.headers["Location"] == again.headers["Location"]
    assert session.scalar(select(func.count()).select_from(Order)) == 1
    order = session.scalars(select(Order)).one()
    assert (order.reference, order.cod_amount, order.cod_currency) == ("PHONE-1", 250_000, "VND")
    shipment = session.scalars(select(Shipment)).one()
    assert "taken: " + shipment.tracking_number in client.get(first.headers["Location"]).get_data(as_text=True)
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(shipment.id))).all() == [
        "order.created"]
    # Another dispatcher with the same reference is told it is taken.
    other = client.application.test_client()
    sign_in(other, "admin@test.example")
    token = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/console/orders/new").get_data(as_text=True)).group(1)
    taken = other.post("/console/orders/new", data={**data, "csrf_token": token})
    assert taken.status_code == 422 and "is already an order" in taken.get_data(as_text=True)


def test_a_hub_operator_does_not_take_orders(client, users):
    sign_in(client, "d7@test.example")
    assert client.get("/console/orders/new").status_code == 403
