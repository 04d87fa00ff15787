"""The console's words for what the services name (statuses, kinds, roles, stages), in the
reader's language. The codes stay English in the data, the API and the audit log; a page
shows ``code|named(words)`` (a code with no word here shows with spaces for underscores)."""
from __future__ import annotations

from datetime import timedelta

from babel.dates import get_day_names
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.billing.fees import CHARGE_WORDS
from app.crm import cases
from app.orders import words as shipment_words
from app.orders.lifecycle import FAILURE_REASONS

ACCOUNT_STATUS_WORDS = {"prospect": _l("prospect"), "onboarding": _l("onboarding"), "active": _l("active"),
                        "paused": _l("paused"), "churned": _l("churned")}
CONTACT_ROLE_WORDS = {"billing": _l("billing"), "operations": _l("operations"), "technical": _l("technical"),
                      "escalation": _l("escalation")}
SUBSCRIPTION_WORDS = {"invoices": _l("invoices"), "remittances": _l("remittances"),
                      "webhook_alerts": _l("webhook alerts"), "cases": _l("cases"), "reports": _l("reports")}
ACTIVITY_WORDS = {"call": _l("call"), "email": _l("e-mail"), "meeting": _l("meeting"), "note": _l("note"),
                  "task": _l("task"), "case": _l("case"), "stage": _l("stage"), "status": _l("status"),
                  "invoice": _l("invoice"), "credit_note": _l("credit note"), "change": _l("change"),
                  "remittance": _l("remittance")}
STAGE_WORDS = {"new": _l("new"), "qualified": _l("qualified"), "proposal": _l("proposal"),
               "negotiation": _l("negotiation"), "won": _l("won"), "lost": _l("lost")}
SOURCE_WORDS = {"web": _l("the website"), "import": _l("an import"), "manual": _l("typed in")}
CAMPAIGN_STATUS_WORDS = {"draft": _l("draft"), "scheduled": _l("scheduled"), "queuing": _l("queuing"),
                         "sending": _l("sending"), "done": _l("done"), "cancelled": _l("cancelled")}
RESULT_WORDS = {"sent": _l("sent"), "failed": _l("failed"), "opted_out": _l("opted out"), "pending": _l("waiting"),
                "cancelled": _l("cancelled")}
CHANNEL_WORDS = {"sms": _l("SMS"), "email": _l("e-mail")}
TIME_WORDS = {"morning": _l("morning"), "afternoon": _l("afternoon"), "evening": _l("evening")}
SEGMENT_WORDS = {"hub_ids": _l("delivered to by"), "min_shipments": _l("at least this many orders"),
                 "days": _l("within days"), "last_within_days": _l("an order within days"),
                 "inactive_days": _l("no order for days"), "language": _l("language")}
LANGUAGE_WORDS = {"vi": "Tiếng Việt", "en": "English"}
OUTCOME_WORDS = {"compensation": _l("Compensated (credit to the partner)"),
                 "claim": _l("Claim accepted (declared value owed to the partner)"),
                 "reschedule": _l("Delivery rescheduled"), "explained": _l("Explained, nothing to do")}
#: Why an attempt failed, as staff read it.
REASON_WORDS = {code: _l(reason.staff) for code, reason in FAILURE_REASONS.items()}
#: What happened to a shipment, as staff read it on its timeline.
STAFF_EVENT_WORDS = {"created": _l("created"), "pickup_scheduled": _l("pickup scheduled"),
                     "picked_up": _l("picked up"), "arrived_at_centre": _l("arrived at centre"),
                     "departed_centre": _l("departed centre"), "arrived_at_hub": _l("arrived at hub"),
                     "out_for_delivery": _l("out for delivery"), "delivered": _l("delivered"),
                     "delivery_failed": _l("delivery failed"), "return_started": _l("return started"),
                     "returned": _l("returned"), "closed": _l("closed"), "cancelled": _l("cancelled"),
                     "held": _l("held"), "released": _l("released"), "lost": _l("lost"),
                     "address_changed": _l("address changed"), "rerouted": _l("rerouted"),
                     "back_at_hub": _l("back at hub"), "rescheduled": _l("rescheduled"),
                     "promise_changed": _l("promise changed")}
HUB_KIND_WORDS = {"shipping_centre": _l("shipping centre"), "local_hub": _l("local hub")}
BAG_WORDS = {"open": _l("open"), "closed": _l("closed"), "dispatched": _l("dispatched"), "received": _l("received"),
             "departed": _l("departed"), "arrived": _l("arrived")}
#: Pickups and run sheets: planned, then dispatched (a sheet) or completed (a pickup).
PICKUP_WORDS = {"planned": _l("planned"), "dispatched": _l("dispatched"), "completed": _l("completed"),
                "closed": _l("closed")}
DISCREPANCY_WORDS = {"missing": _l("missing"), "unexpected": _l("unexpected")}
INVOICE_STATUS_WORDS = {"issued": _l("issued"), "overdue": _l("overdue"), "partially_paid": _l("partly paid"),
                        "paid": _l("paid"), "credit_note": _l("credit note"), "draft": _l("draft"), "sent": _l("sent")}
PAYMENT_SOURCE_WORDS = {"manual": _l("recorded by hand"), "bank_import": _l("bank statement")}
REMITTANCE_WORDS = {"approved": _l("approved"), "paid": _l("paid")}
#: The stages of a journey that have a time target (``orders.stages``).
JOURNEY_STAGE_WORDS = {"pickup": _l("waiting for pickup"), "centre_dwell": _l("at the centre"),
                       "linehaul": _l("on the line-haul"), "hub_dwell": _l("at the delivering hub"),
                       "first_attempt": _l("out for delivery"), "return_leg": _l("on the way back")}
#: Who bears a cash difference (``billing.posting.SETTLEMENTS``).
SETTLEMENT_WORDS = {
    "partner_accepts": _l("the partner is owed what the customer paid (the rest was settled between them)"),
    "driver_owes": _l("the driver owes the shortage until repaid"),
    "written_off": _l("Waybill bears the difference")}
ATTEMPT_WORDS = {"delivered": _l("delivered"), "failed": _l("failed")}
CLAIM_WORDS = {"lost": _l("lost"), "damaged": _l("damaged"), "open": _l("open"), "accepted": _l("accepted"),
               "rejected": _l("rejected"), "paid": _l("paid")}
RELATION_WORDS = {"self": _l("self"), "family": _l("family"), "neighbour": _l("neighbour"),
                  "reception": _l("reception")}
COD_METHOD_WORDS = {"cash": _l("cash"), "card": _l("card"), "transfer": _l("transfer")}
CYCLE_WORDS = {"monthly": _l("monthly"), "weekly": _l("weekly")}
CHANNEL_OPENED_WORDS = {"staff": _l("staff"), "portal": _l("the portal"), "api": _l("the API"),
                        "tracking": _l("the tracking page"), "auto": _l("an event")}


def span(left: timedelta | None) -> str:
    """Time left or over as people say it: "2 h 05 min left", "45 min over" (in hours, not
    days: the office's days differ in length)."""
    if left is None:
        return ""
    over = left < timedelta(0)
    minutes = int(abs(left).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    text = _("%(h)s h %(m)s min", h=hours, m=f"{minutes:02d}") if hours else _("%(m)s min", m=minutes)
    return _("%(time)s over", time=text) if over else _("%(time)s left", time=text)


def weekdays() -> list[tuple[str, str]]:
    """The days of a week, "1" (Monday) to "7" as a driver's or a hub's working days are
    kept, named short in the reader's language."""
    names = get_day_names("abbreviated", locale=get_locale())
    return [(str(i + 1), names[i]) for i in range(7)]


def all_words() -> dict:
    """Every map, by the name the console's templates use."""
    return {
        "account_status_words": ACCOUNT_STATUS_WORDS,
        "contact_role_words": CONTACT_ROLE_WORDS, "subscription_words": SUBSCRIPTION_WORDS,
        "activity_words": ACTIVITY_WORDS, "stage_words": STAGE_WORDS, "source_words": SOURCE_WORDS,
        "campaign_status_words": CAMPAIGN_STATUS_WORDS, "result_words": RESULT_WORDS, "channel_words": CHANNEL_WORDS,
        "time_words": TIME_WORDS, "segment_words": SEGMENT_WORDS, "language_words": LANGUAGE_WORDS,
        "outcome_words": OUTCOME_WORDS, "cycle_words": CYCLE_WORDS,
        "settlement_words": SETTLEMENT_WORDS, "charge_words": CHARGE_WORDS, "journey_stage_words": JOURNEY_STAGE_WORDS, "remittance_words": REMITTANCE_WORDS, "payment_source_words": PAYMENT_SOURCE_WORDS, "invoice_status_words": INVOICE_STATUS_WORDS, "discrepancy_words": DISCREPANCY_WORDS, "pickup_words": PICKUP_WORDS, "hub_kind_words": HUB_KIND_WORDS, "bag_words": BAG_WORDS, "attempt_words": ATTEMPT_WORDS, "claim_words": CLAIM_WORDS,
        "relation_words": RELATION_WORDS, "cod_method_words": COD_METHOD_WORDS, "opened_via_words": CHANNEL_OPENED_WORDS,
        "shipment_status_words": shipment_words.STATUS_WORDS, "public_status_words": shipment_words.PUBLIC_STATUS_WORDS,
        "level_words": shipment_words.LEVEL_WORDS, "event_words": STAFF_EVENT_WORDS,
        "reason_words": REASON_WORDS,
        "type_words": cases.TYPE_WORDS, "status_words": cases.STATUS_WORDS, "queue_words": cases.QUEUE_WORDS,
        "priority_words": cases.PRIORITY_WORDS, "clock_words": cases.CLOCK_WORDS,
    }
