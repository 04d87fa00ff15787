"""Sign-in for the pages (Flask-Login), CSRF on every form and htmx request (Flask-WTF),
session cookies and timeouts, security headers, and the role check for views."""
from __future__ import annotations

from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import (Blueprint, Flask, abort, current_app, flash, redirect, render_template, request,
                   session, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import CSRFProtect, FlaskForm
from flask_wtf.csrf import CSRFError
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from app import clock
from app.auth import services
from app.db import db
from app.errors import page_error

login_manager = LoginManager()

#: What each role is called on a page (the header says who is signed in).
ROLE_WORDS = {"admin": _l("administrator"), "dispatcher": _l("dispatcher"), "hub_operator": _l("hub operator"),
              "finance": _l("finance"), "account_manager": _l("account manager"),
              "customer_service": _l("customer service"), "driver": _l("driver"), "partner": _l("partner's user")}
login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."
csrf = CSRFProtect()
bp = Blueprint("auth", __name__, template_folder="templates")

#: A staff session ends after this long without a request, and after ABSOLUTE_TIMEOUT whatever.
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
#: A driver's phone stays signed in for the working weeks (revocable: sign out everywhere).
DRIVER_IDLE_TIMEOUT = timedelta(days=7)
DRIVER_ABSOLUTE_TIMEOUT = timedelta(days=30)


def _timeouts(user) -> tuple[timedelta, timedelta]:
    if user.role == "driver":
        return DRIVER_IDLE_TIMEOUT, DRIVER_ABSOLUTE_TIMEOUT
    return IDLE_TIMEOUT, ABSOLUTE_TIMEOUT


@login_manager.user_loader
def _load_user(token: str):
    return services.user_for_session(db.session, token)


def init_app(app: Flask, api_blueprints=()) -> None:
    secure = app.config["WAYBILL_SECURE_COOKIES"]
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_SECURE=secure,
        # The cookie lives as long as the longest session; each role's limits are enforced below.
        PERMANENT_SESSION_LIFETIME=DRIVER_ABSOLUTE_TIMEOUT, SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    for blueprint in api_blueprints:  # key- or signature-authenticated, no cookies: no CSRF
        csrf.exempt(blueprint)
    app.register_blueprint(bp)
    app.jinja_env.globals["role_words"] = ROLE_WORDS
    app.before_request(_enforce_timeouts)
    app.after_request(_security_headers)
    app.register_error_handler(CSRFError, _csrf_refused)


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _csrf_refused(error: CSRFError):
    """A script's request (the driver's queue) whose session is gone gets 401, so it keeps
    what it was sending and asks for a sign-in; a bad token in a live session is a 400."""
    if _wants_json():
        if not current_user.is_authenticated:
            return {"error": "signed_out", "message": "Your session ended: sign in again."}, 401
        return {"error": "csrf", "message": error.description}, 400
    return page_error(error)


def _enforce_timeouts():
    if not current_user.is_authenticated:
        return None
    idle, absolute = _timeouts(current_user)
    now = clock.timestamp()
    if (now - session.get("signed_in_at", 0) > absolute.total_seconds()
            or now - session.get("seen_at", 0) > idle.total_seconds()):
        logout_user()
        session.clear()
        if _wants_json():
            return {"error": "signed_out", "message": _("Your session ended: sign in again.")}, 401
        flash(_("Your session ended: sign in again."))
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    session["seen_at"] = now
    return None


def _security_headers(response):
    if request.is_secure:  # browsers then refuse plain http for this site for a year
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith("/api/v1/") and not request.path.startswith("/api/v1/reference"):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
    tiles = current_app.config.get("WAYBILL_MAP_TILE_ORIGIN") or ""
    response.headers.setdefault("Content-Security-Policy", (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: {tiles}".rstrip() + "; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if current_user.is_authenticated:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def roles_required(*roles: str):
    """The view needs a signed-in user with one of ``roles`` (403 for anyone else)."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapper
    return decorate


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("say your e-mail")), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("say your password")), Length(max=200)])


def _home_for(user) -> str:
    if user.is_staff:
        return url_for("console.dashboard")
    if user.role == "driver":
        return url_for("driver.home")
    if user.role == "partner" and user.partner_id is not None:
        return url_for("portal.home")
    return url_for("public.find")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (never another host) after signing in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.get("/")
def home():
    """Each person's home: staff to the console, drivers to their day, partners to theirs;
    the public to the tracking page."""
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    return redirect(url_for("public.find"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = services.sign_in(db.session, form.email.data, form.password.data, ip=request.remote_addr)
        except services.SignInRefused as exc:
            db.session.commit()  # the failure counts and is in the audit log
            error = str(exc)
        else:
            services.start_session(db.session, user, ip=request.remote_addr,
                                   user_agent=request.user_agent.string)
            db.session.commit()
            session.clear()  # a fresh session: no fixation
            session.permanent = True
            login_user(user)
            session["signed_in_at"] = session["seen_at"] = clock.timestamp()
            return redirect(_safe_next(request.args.get("next")) or _home_for(user))
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    """Sign out: this session ends on the server, so a copy of its cookie is worth nothing."""
    if current_user.is_authenticated:
        services.end_session(db.session, current_user.session_token)
        services.audit(db.session, current_user, "signed_out", ip=request.remote_addr)
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere():
    """Sign out on every device (a lost phone, a shared computer)."""
    count = services.sign_out_everywhere(db.session, current_user)
    services.audit(db.session, current_user, "signed_out_everywhere", details={"sessions": count},
                   ip=request.remote_addr)
    db.session.commit()
    logout_user()
    session.clear()
    flash(ngettext("Signed out on %(num)s device.", "Signed out on %(num)s devices.", count))
    return redirect(url_for("auth.login"))


@bp.post("/account/language")
@login_required
def choose_language():
    """The signed-in person chooses the language of their pages (kept on their login)."""
    language = request.form.get("language") or None
    try:
        services.set_language(db.session, current_user, language)
    except services.AccountError:
        db.session.rollback()
        abort(400)
    db.session.commit()
    return redirect(_safe_next(request.form.get("next")) or _home_for(current_user))


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(_l("say it")), Length(max=200)])
    new = PasswordField(_l("New password"), validators=[
        DataRequired(_l("say it")), Length(min=services.MIN_PASSWORD_LENGTH, max=200,
                                           message=_l("at least %(min)d characters"))])
    again = PasswordField(_l("New password again"), validators=[DataRequired(_l("say it")),
                                                                 EqualTo("new", _l("the two new passwords differ"))])


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """A person changes their own password; their other sessions end."""
    form = PasswordForm()
    error = None
    if form.validate_on_submit():
        try:
            services.change_password(db.session, current_user, form.current.data, form.new.data)
        except services.AccountError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            services.audit(db.session, current_user, "password_changed", ip=request.remote_addr)
            db.session.commit()
            flash(_("Password changed; other devices are signed out."))
            return redirect(_home_for(current_user))
    elif form.errors:
        error = "; ".join(f"{form[name].label.text}: {' '.join(msgs)}" for name, msgs in form.errors.items())
    return render_template("auth/password.html", form=form, error=error), 400 if error else 200
