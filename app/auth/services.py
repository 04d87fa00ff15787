"""Accounts: passwords (argon2id), sign-in with lockout, the audit log."""
from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ROLES, AuditEntry, User
from app.db import utcnow

#: argon2id with argon2-cffi's defaults (RFC 9106 "low memory" profile).
_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
#: Failed sign-ins in a row after which an account waits LOCKOUT before the next try.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
#: Verified against when the email is unknown, so that both answers take as long.
_DUMMY_HASH = _hasher.hash("waybill-no-such-user")


class AccountError(ValueError):
    """The account cannot be made or changed as asked; the message says why."""


class SignInRefused(Exception):
    """Wrong email or password, an inactive account, or a locked one (the message says
    which only where that tells an attacker nothing new)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def create_user(session: Session, email: str, *, role: str, password: str, name: str = "",
                hub_id: int | None = None, driver_id: int | None = None,
                partner_id: int | None = None) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if role == "hub_operator" and hub_id is None:
        raise AccountError("a hub operator belongs to a hub")
    if role == "driver" and driver_id is None:
        raise AccountError("a driver login belongs to a driver")
    if session.scalars(select(User).where(User.email == email)).first():
        raise AccountError(f"{email} already has an account")
    user = User(email=email, name=name.strip(), role=role, password_hash=hash_password(password),
                hub_id=hub_id, driver_id=driver_id, partner_id=partner_id, active=True,
                session_version=1, failed_logins=0)
    session.add(user)
    session.flush()
    return user


def sign_in(session: Session, email: str, password: str, *, ip: str | None = None,
            now: datetime | None = None) -> User:
    """The user with this email and password; raises SignInRefused. Five failures in a
    row lock the account for 15 minutes. Every outcome is in the audit log. Flushes."""
    now = now or utcnow()
    email = (email or "").strip().lower()
    user = session.scalars(select(User).where(User.email == email)).first()
    if user is None:
        _verify(_DUMMY_HASH, password)
        audit(session, None, "sign_in_failed", details={"email": email[:254], "why": "unknown email"}, ip=ip)
        raise SignInRefused("wrong email or password")
    if user.locked_until and user.locked_until > now:
        audit(session, user, "sign_in_failed", details={"why": "locked"}, ip=ip)
        raise SignInRefused("too many failed attempts: try again in 15 minutes")
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        why = "wrong password"
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until, user.failed_logins, why = now + LOCKOUT, 0, "wrong password; locked"
        audit(session, user, "sign_in_failed", details={"why": why}, ip=ip)
        raise SignInRefused("wrong email or password")
    if not user.active:
        audit(session, user, "sign_in_failed", details={"why": "inactive"}, ip=ip)
        raise SignInRefused("wrong email or password")
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    audit(session, user, "signed_in", ip=ip)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def user_for_session(session: Session, session_id: str) -> User | None:
    """The user of a session cookie's id ("<user id>:<session version>"); None when the
    user is gone, inactive, or signed out everywhere since."""
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def sign_out_everywhere(session: Session, user: User) -> None:
    user.session_version += 1


def audit(session: Session, user: User | None, action: str, *, object_type: str | None = None,
          object_id=None, details: dict | None = None, ip: str | None = None) -> AuditEntry:
    entry = AuditEntry(at=utcnow(), user_id=user.id if user else None, user_email=user.email if user else None,
                       action=action, object_type=object_type,
                       object_id=None if object_id is None else str(object_id), details=details, ip=ip)
    session.add(entry)
    return entry


def audit_entries(session: Session, *, before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt))
