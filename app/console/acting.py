"""One business action of a console page, and its one commit point (the pattern Indico's
request handlers use: services change and flush, the edge commits).

    with acting("Not closed", bags.BagError) as act:
        bag = bags.close_bag(db.session, bag_id, hub.id)
        act.audit("bag.closed", "bag", bag.id, {"code": bag.code})
        act.said(f"Bag {bag.code} closed.")
    return redirect(...)

The block calls the services. A refusal among those named rolls the whole action back and
is flashed after the prefix; anything else rolls back and is raised. Otherwise the audit
entry joins the change, the transaction commits, and what was said is flashed."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from flask import flash, request
from flask_login import current_user

from app.auth import services as accounts
from app.db import db


class Act:
    def __init__(self) -> None:
        self._audit: tuple | None = None
        self._said: str | None = None

    def audit(self, action: str, object_type: str, object_id, details: dict | None = None) -> None:
        """The audit entry of the action, written in its transaction."""
        self._audit = (action, object_type, object_id, details)

    def said(self, message: str) -> None:
        """What the person is told once the action is committed."""
        self._said = message


def actor() -> str:
    """The signed-in person, as the actor of events and changes."""
    return f"user:{current_user.id}"


@contextmanager
def acting(refused: str, *refusals: type[Exception], words: Callable[[Exception], str] = str):
    act = Act()
    try:
        yield act
    except refusals as exc:
        db.session.rollback()
        flash(f"{refused}: {words(exc)}")
        return
    except BaseException:
        db.session.rollback()
        raise
    if act._audit:
        action, object_type, object_id, details = act._audit
        accounts.audit(db.session, current_user, action, object_type=object_type, object_id=object_id,
                       details=details, ip=request.remote_addr)
    db.session.commit()
    if act._said:
        flash(act._said)
