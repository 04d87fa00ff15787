"""POST /api/v1/cases: a partner reports a problem about one of its parcels, reads customer
service's answers (never its internal notes) and answers back."""
from sqlalchemy import select

from app.crm import cases
from app.crm.models import Case
from tests.api.test_orders import post


def test_a_partner_reports_a_problem_and_follows_it(client, keys, session):
    a = {"Authorization": f"Bearer {keys[0]}"}
    order = post(client, keys[0]).get_json()
    other = post(client, keys[1]).get_json()
    r = client.post("/api/v1/cases", json={"type": "damaged", "tracking_number": other["tracking_number"],
                                           "message": "crushed"}, headers=a)
    assert r.status_code == 422 and r.get_json()["error"]["details"]["json"]["tracking_number"]
    r = client.post("/api/v1/cases", json={"type": "teleported", "message": "x"}, headers=a)
    assert r.status_code == 422 and "type" in r.get_json()["error"]["details"]["json"]
    r = client.post("/api/v1/cases", json={"type": "damaged", "tracking_number": order["tracking_number"],
                                           "subject": "Crushed box", "message": "The customer sent a photo"}, headers=a)
    assert r.status_code == 201
    made = r.get_json()
    assert (made["status"], made["tracking_number"], made["messages"][0]["sent_by"]) == (
        "new", order["tracking_number"], "you")
    case = session.get(Case, made["id"])
    assert (case.opened_via, case.queue, case.priority) == ("api", "claims", "high")

    with client.application.app_context():
        case = session.get(Case, made["id"])
        cases.reply(session, case, "note", "INTERNAL: blame the hub", author_id=None, author_name="Lan")
        cases.reply(session, case, "to_partner", "Which item?", author_id=None, author_name="Lan", wait=True)
        session.commit()
    seen = client.get(f"/api/v1/cases/{made['id']}", headers=a).get_json()
    assert seen["status"] == "waiting" and [m["message"] for m in seen["messages"]] == [
        "The customer sent a photo", "Which item?"]
    r = client.post(f"/api/v1/cases/{made['id']}/messages", json={"message": "The blue vase"}, headers=a)
    assert r.status_code == 201 and r.get_json()["status"] == "open"
    assert [c["id"] for c in client.get("/api/v1/cases", headers=a).get_json()] == [made["id"]]
    assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {keys[1]}"}).get_json() == []
    assert session.scalars(select(Case.id)).all() == [made["id"]]
