"""A delivery promise in the reader's words, from the steps ``orders.promises`` stored:
"picked up today before 14:00, line-haul to District 7 tonight, delivered Thursday"."""
from __future__ import annotations

from datetime import date, timedelta

from flask_babel import format_date
from flask_babel import gettext as _

from app import clock


def _day(text: str, today: date) -> str:
    day = date.fromisoformat(text)
    if day == today:
        return _("today")
    if day == today + timedelta(days=1):
        return _("tomorrow")
    if today < day < today + timedelta(days=7):
        return format_date(day, "EEEE")
    return format_date(day, "EEEE d MMMM")


def explain(basis: list[dict] | None, today: date | None = None) -> str:
    """The reason for a promise in the reader's language: "picked up today before 14:00,
    line-haul to District 7 tonight, delivered Thursday"."""
    today = today or clock.today()
    said = []
    for step in basis or []:
        kind, day = step["step"], step.get("day")
        if kind == "since":
            said.append({"failed_attempt": _("after the failed attempt"), "released": _("after the hold"),
                         "missed_linehaul": _("the line-haul it was to take has left without it"),
                         "rescheduled": _("as the customer asked"), "address_changed": _("to the new address"),
                         "rerouted": _("from its new hub")}.get(step["why"], step["why"]))
        elif kind == "no_same_day" and step.get("why") == "no_run":
            said.append(_("no same-day run from %(hub)s", hub=step["hub"]))
        elif kind == "no_same_day":
            said.append(_("same day only within the centre's own area"))
        elif kind == "after_cutoff":
            said.append(_("ordered after the %(time)s cut-off", time=step["by"]))
        elif kind == "pickup":
            said.append(_("picked up %(day)s before %(time)s", day=_day(day, today), time=step["by"]))
        elif kind == "linehaul":
            line = date.fromisoformat(day)
            when = _("tonight") if line == today else _("%(day)s night", day=_day(day, today))
            said.append(_("line-haul to %(hub)s %(when)s", hub=step["name"], when=when))
        elif kind == "standard":
            said.append(_("standard service: one working day more"))
        elif kind == "not_before":
            said.append(_("not before %(day)s", day=_day(day, today)))
        elif kind == "skip":
            why = step["why"]
            if why == "holiday":
                said.append(_("%(day)s is a public holiday", day=_day(day, today)))
            elif why == "full":
                said.append(_("%(day)s is full", day=_day(day, today)))
            else:
                said.append(_("%(day)s the hub is closed", day=_day(day, today)))
        elif kind == "deliver":
            text = _("delivered %(day)s", day=_day(day, today))
            if step.get("window"):
                text += " " + _("between %(start)s and %(end)s", start=step["window"][0], end=step["window"][1])
            said.append(text)
    return ", ".join(said)


def described(day: date, basis: list[dict] | None, *, first: date | None = None, revisions: int = 0) -> dict:
    """A promise as the API and the pages give it: the day, the reason in the reader's
    words, the window, the first day promised and how often it moved."""
    window = next((s.get("window") for s in reversed(basis or []) if s["step"] == "deliver"), None)
    return {"date": day, "reason": explain(basis), "first_date": first or day, "revisions": revisions or 0,
            "window": {"from": window[0], "until": window[1]} if window else None}
