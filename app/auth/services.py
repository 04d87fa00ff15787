"""Accounts: passwords (argon2id), sign-in with lockout, the audit log."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import clock
from app.auth.models import ROLES, AuditEntry, User, UserSession

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
                failed_logins=0)
    session.add(user)
    session.flush()
    return user


def sign_in(session: Session, email: str, password: str, *, ip: str | None = None,
            now: datetime | None = None) -> User:
    """The user with this email and password; raises SignInRefused. Five failures in a
    row lock the account for 15 minutes. Every outcome is in the audit log. Flushes."""
    now = now or clock.now()
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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, *, ip: str | None = None, user_agent: str | None = None) -> str:
    """A new sign-in session for ``user``; returns the token for its cookie (shown once)."""
    token = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user.id, token_hash=_token_hash(token), ip=ip,
                            user_agent=(user_agent or "")[:200] or None))
    session.flush()
    user.session_token = token
    return token


def user_for_session(session: Session, token: str) -> User | None:
    """The user of a session cookie's token; None when the session has ended, or the
    user is gone or inactive."""
    if not token or len(token) > 100:
        return None
    row = session.execute(select(User, UserSession).join(UserSession, UserSession.user_id == User.id).where(
        UserSession.token_hash == _token_hash(token), UserSession.ended_at.is_(None))).first()
    if row is None or not row.User.active:
        return None
    row.User.session_token = token
    return row.User


def end_session(session: Session, token: str, *, reason: str = "signed out") -> None:
    """End one session (signing out): its cookie, wherever it was copied, no longer works."""
    session.execute(update(UserSession).where(UserSession.token_hash == _token_hash(token),
                                              UserSession.ended_at.is_(None))
                    .values(ended_at=clock.now(), ended_reason=reason))


def sign_out_everywhere(session: Session, user: User, *, reason: str = "signed out everywhere") -> int:
    """End every session of the user; returns how many were open."""
    return session.execute(update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
                           .values(ended_at=clock.now(), ended_reason=reason)).rowcount


def open_sessions(session: Session, user_id: int) -> list[UserSession]:
    return list(session.scalars(select(UserSession).where(UserSession.user_id == user_id,
                                                          UserSession.ended_at.is_(None)).order_by(UserSession.id)))


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """The user's own change: the current password first. Every other session ends."""
    if not _verify(user.password_hash, current):
        raise AccountError("the current password is wrong")
    user.password_hash = hash_password(new)
    keep = user.session_token
    session.execute(update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
                                              UserSession.token_hash != _token_hash(keep or ""))
                    .values(ended_at=clock.now(), ended_reason="password changed"))


def reset_password(session: Session, user: User, new: str) -> None:
    """An admin sets a new password (told to the user in person); every session ends and
    a lock from failed sign-ins is lifted."""
    user.password_hash = hash_password(new)
    user.failed_logins, user.locked_until = 0, None
    sign_out_everywhere(session, user, reason="password reset")


def set_active(session: Session, user: User, active: bool) -> None:
    """Deactivate (every session ends at once) or reactivate a login."""
    user.active = active
    if not active:
        sign_out_everywhere(session, user, reason="deactivated")


def audit(session: Session, user: User | None, action: str, *, object_type: str | None = None,
          object_id=None, details: dict | None = None, ip: str | None = None) -> AuditEntry:
    entry = AuditEntry(at=clock.now(), user_id=user.id if user else None, user_email=user.email if user else None,
                       action=action, object_type=object_type,
                       object_id=None if object_id is None else str(object_id), details=details, ip=ip)
    session.add(entry)
    return entry


def audit_entries(session: Session, *, before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt))
