"""Customer satisfaction: the "delivered" message carries a link (signed, so nobody scores
another's parcel and no row is made until they answer); one tap on the page it opens scores
the delivery 1-5, and a comment may follow. The account page shows the scores."""
from __future__ import annotations

from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.crm.models import CsatResponse

SALT = "waybill-csat"
SCORES = (1, 2, 3, 4, 5)


class CsatError(ValueError):
    pass


def token_for(secret: str, shipment_id: int) -> str:
    return URLSafeSerializer(secret, salt=SALT).dumps(shipment_id)


def shipment_of(secret: str, token: str) -> int | None:
    """The shipment a link is for; None for a link Waybill did not make."""
    try:
        value = URLSafeSerializer(secret, salt=SALT).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def record(session: Session, shipment_id: int, *, partner_id: int, customer_id: int | None, score: int,
           comment: str | None = None) -> CsatResponse:
    """The score (and comment) of a delivery; answering again changes it. Flushes."""
    if score not in SCORES:
        raise CsatError("a score is from 1 to 5")
    found = session.scalars(select(CsatResponse).where(CsatResponse.shipment_id == shipment_id)).first()
    now = clock.now()
    if found is None:
        found = CsatResponse(shipment_id=shipment_id, partner_id=partner_id, customer_id=customer_id, score=score,
                             created_at=now)
        session.add(found)
    found.score, found.updated_at = score, now
    if comment is not None:
        found.comment = comment.strip()[:1000] or None
    session.flush()
    return found


def response_of(session: Session, shipment_id: int) -> CsatResponse | None:
    return session.scalars(select(CsatResponse).where(CsatResponse.shipment_id == shipment_id)).first()


def scores_of(session: Session, partner_id: int, *, since: datetime) -> tuple[int, float | None, dict[int, int]]:
    """(answers, average score, answers by score) of a partner's deliveries since ``since``."""
    by_score = dict(session.execute(select(CsatResponse.score, func.count()).where(
        CsatResponse.partner_id == partner_id, CsatResponse.created_at >= since).group_by(CsatResponse.score)).all())
    total = sum(by_score.values())
    average = sum(s * n for s, n in by_score.items()) / total if total else None
    return total, average, {s: by_score.get(s, 0) for s in SCORES}


def comments_of(session: Session, partner_id: int, *, limit: int = 10) -> list[CsatResponse]:
    return list(session.scalars(select(CsatResponse).where(CsatResponse.partner_id == partner_id,
                                                           CsatResponse.comment.is_not(None))
                                .order_by(CsatResponse.updated_at.desc()).limit(limit)))
