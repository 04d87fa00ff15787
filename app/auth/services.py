"""Accounts: passwords (argon2id), sign-in with lockout, the audit log."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import argon2.profiles
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import clock
from app.auth.models import ROLES, AuditEntry, User, UserSession

#: argon2id parameter profiles by name (``WAYBILL_PASSWORD_PROFILE``): RFC 9106's "low
#: memory" one by default (argon2-cffi's default); "high memory" where there is room;
#: CHEAPEST (the same algorithm at the lowest cost) for the test suite only.
PASSWORD_PROFILES = {name: getattr(argon2.profiles, name)
                     for name in ("RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST")}
_hashers: dict[str, tuple[PasswordHasher, str]] = {}
_in_use = ["RFC_9106_LOW_MEMORY"]


def use_password_profile(name: str, *, testing: bool) -> None:
    """Hash new passwords with profile ``name`` (``create_app`` calls it from the config)."""
    if name not in PASSWORD_PROFILES:
        raise ValueError(f"no password profile {name!r}")
    if name == "CHEAPEST" and not testing:
        raise RuntimeError("the CHEAPEST password profile is for the test suite only")
    _in_use[0] = name


def _profile() -> tuple[PasswordHasher, str]:
    """The hasher of the profile in use, and a hash it made of a password nobody has
    (verified against when the email is unknown, so that both answers take as long)."""
    name = _in_use[0]
    if name not in _hashers:
        hasher = PasswordHasher.from_parameters(PASSWORD_PROFILES[name])
        _hashers[name] = (hasher, hasher.hash("waybill-no-such-user"))
    return _hashers[name]


def _hasher() -> PasswordHasher:
    return _profile()[0]

MIN_PASSWORD_LENGTH = 10
#: Failed sign-ins for one email from one address, then from one address whatever the
#: email, after which that address waits out LOCKOUT.
MAX_FAILED_LOGINS = 5
MAX_FAILED_PER_ADDRESS = 20
LOCKOUT = timedelta(minutes=15)


class AccountError(ValueError):
    """The account cannot be made or changed as asked; the message says why."""


class SignInRefused(Exception):
    """Wrong email or password, an inactive account, or a locked one (the message says
    which only where that tells an attacker nothing new)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_l("a password has at least %(num)s characters", num=MIN_PASSWORD_LENGTH))
    return _hasher().hash(password)


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
                hub_id=hub_id, driver_id=driver_id, partner_id=partner_id, active=True)
    session.add(user)
    session.flush()
    return user


def _failures(session: Session, *, ip: str | None, email: str | None, since: datetime) -> int:
    stmt = select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "sign_in_failed", AuditEntry.at > since, AuditEntry.ip == ip)
    if email is not None:
        stmt = stmt.where(AuditEntry.user_email == email)
    return session.scalar(stmt)


def sign_in(session: Session, email: str, password: str, *, ip: str | None = None,
            now: datetime | None = None) -> User:
    """The user with this email and password; raises SignInRefused. Flushes.

    Failures are counted from the audit log per address and email (five in 15 minutes
    and that address waits for that email) and per address (twenty, whatever the emails):
    nobody can lock a person out from elsewhere. A known and an unknown email get the
    same answers and take as long (one password hash checked either way)."""
    now = now or clock.now()
    email = (email or "").strip().lower()[:254]
    user = session.scalars(select(User).where(User.email == email)).first()
    right = _verify(user.password_hash if user else _profile()[1], password)
    since = now - LOCKOUT

    def refuse(why: str, message):
        audit(session, user, "sign_in_failed", details={"email": email, "why": why}, ip=ip, email=email)
        raise SignInRefused(message)

    if _failures(session, ip=ip, email=None, since=since) >= MAX_FAILED_PER_ADDRESS:
        refuse("too many from this address", _l("too many failed sign-ins from this address: try again in 15 minutes"))
    if _failures(session, ip=ip, email=email, since=since) >= MAX_FAILED_LOGINS:
        refuse("waiting after failures", _l("too many failed attempts: try again in 15 minutes"))
    if user is None:
        refuse("unknown email", _l("wrong email or password"))
    if not right:
        refuse("wrong password", _l("wrong email or password"))
    if not user.active:
        refuse("inactive", _l("wrong email or password"))
    user.last_login_at = now
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    audit(session, user, "signed_in", ip=ip)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password or "")
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
        raise AccountError(_l("the current password is wrong"))
    user.password_hash = hash_password(new)
    keep = user.session_token
    session.execute(update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
                                              UserSession.token_hash != _token_hash(keep or ""))
                    .values(ended_at=clock.now(), ended_reason="password changed"))


def reset_password(session: Session, user: User, new: str) -> None:
    """An admin sets a new password (told to the user in person); every session ends."""
    user.password_hash = hash_password(new)
    sign_out_everywhere(session, user, reason="password reset")


def set_active(session: Session, user: User, active: bool) -> None:
    """Deactivate (every session ends at once) or reactivate a login."""
    user.active = active
    if not active:
        sign_out_everywhere(session, user, reason="deactivated")


def audit(session: Session, user: User | None, action: str, *, object_type: str | None = None,
          object_id=None, details: dict | None = None, ip: str | None = None,
          email: str | None = None) -> AuditEntry:
    """Append to the audit log; ``email``: who it was about when there is no user (a
    sign-in with an unknown email)."""
    entry = AuditEntry(at=clock.now(), user_id=user.id if user else None,
                       user_email=user.email if user else email,
                       action=action, object_type=object_type,
                       object_id=None if object_id is None else str(object_id), details=details, ip=ip)
    session.add(entry)
    return entry


LANGUAGES = ("vi", "en")


def set_language(session: Session, user: User, language: str | None) -> None:
    """The language the person's pages speak (None: their browser's)."""
    if language not in (None, *LANGUAGES):
        raise AccountError(f"language is one of {', '.join(LANGUAGES)}")
    user.language = language
    session.flush()


def staff_with_roles(session: Session, roles) -> list[User]:
    """Active users who have one of ``roles``, by name."""
    return list(session.scalars(select(User).where(User.role.in_(list(roles)), User.active.is_(True))
                                .order_by(User.name, User.email)))


def users_of_partner(session: Session, partner_id: int) -> list[User]:
    """A partner's own logins, active ones first."""
    return list(session.scalars(select(User).where(User.partner_id == partner_id, User.role == "partner")
                                .order_by(User.active.desc(), User.email)))


def audit_entries_about(session: Session, object_type: str, object_id: str, *, limit: int = 100) -> list[AuditEntry]:
    """The audit entries about one object, newest first."""
    return list(session.scalars(select(AuditEntry).where(AuditEntry.object_type == object_type,
                                                         AuditEntry.object_id == object_id)
                                .order_by(AuditEntry.id.desc()).limit(limit)))


def audit_entries(session: Session, *, before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt))
