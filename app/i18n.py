"""Languages: English and Vietnamese with Flask-Babel.

Text is written in English in the code and the templates (``_()`` / ``gettext``) and
translated from ``app/translations/<lang>/LC_MESSAGES/messages.po``, compiled on start into
the instance folder (so a checkout needs no build step and a changed catalogue is picked
up on the next start). A page's language is, in order: ``?lang=``, the signed-in person's
choice (``users.language``, set from the page header), the one remembered in a cookie (a
``?lang=`` before), the browser's ``Accept-Language``, then ``WAYBILL_DEFAULT_LANGUAGE``.
Messages to customers are written in their language, whatever the sender's.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import (
    Babel,
    force_locale,
    format_date,
    format_datetime,
    format_decimal,
    format_percent,
    get_locale,
    gettext,
)

#: The languages Waybill speaks, the network's first.
LANGUAGES = ("vi", "en")
NAMES = {"vi": "Tiếng Việt", "en": "English"}
CATALOGUES = Path(__file__).resolve().parent / "translations"
COOKIE = "lang"

babel = Babel()


def compile_catalogues(target: Path) -> Path:
    """Each ``.po`` under app/translations compiled to ``.mo`` under ``target`` (only those
    older than their source; written to a temporary file and renamed, so processes that
    start together never read half a file)."""
    for po in CATALOGUES.glob("*/LC_MESSAGES/*.po"):
        mo = target / po.relative_to(CATALOGUES).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as source:
            catalogue = read_po(source, locale=po.parts[-3])
        fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalogue, use_fuzzy=False)
        os.replace(tmp, mo)
    return target


def init_app(app: Flask) -> None:
    target = compile_catalogues(Path(app.instance_path) / "translations")
    babel.init_app(app, default_locale=app.config["WAYBILL_DEFAULT_LANGUAGE"],
                   default_translation_directories=str(target), default_timezone=app.config["WAYBILL_TIMEZONE"],
                   locale_selector=select_language)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, LANGUAGE_NAMES=NAMES, current_language=current_language,
                                 format_date=format_date, format_datetime=format_datetime,
                                 format_decimal=format_decimal, format_percent=format_percent)

    @app.after_request
    def _remember_language(response):
        chosen = request.args.get("lang")
        if chosen in LANGUAGES and request.cookies.get(COOKIE) != chosen:
            response.set_cookie(COOKIE, chosen, max_age=365 * 86400, samesite="Lax",
                                secure=current_app.config.get("WAYBILL_SECURE_COOKIES", True), httponly=True)
        return response


def select_language() -> str:
    """The language of this request (see the module's docstring)."""
    forced = g.get("language")
    if forced in LANGUAGES:
        return forced
    if has_request_context():
        from flask_login import current_user

        asked = request.args.get("lang")
        preferred = getattr(current_user, "language", None) if current_user else None
        for chosen in (asked, preferred, request.cookies.get(COOKIE)):
            if chosen in LANGUAGES:
                return chosen
        best = request.accept_languages.best_match(LANGUAGES)
        if best:
            return best
    return current_app.config["WAYBILL_DEFAULT_LANGUAGE"]


def current_language() -> str:
    return str(get_locale() or current_app.config["WAYBILL_DEFAULT_LANGUAGE"])


def use_language(language: str | None) -> None:
    """This request speaks ``language`` (a customer's own, on a page about their parcel)."""
    if language in LANGUAGES:
        g.language = language
        from flask_babel import refresh

        refresh()


@contextmanager
def speaking(language: str | None):
    """Text made in the block is in ``language`` (else the network's default): for
    messages written by workers, in the customer's language."""
    chosen = language if language in LANGUAGES else current_app.config["WAYBILL_DEFAULT_LANGUAGE"]
    with force_locale(chosen):
        yield chosen


def translated(language: str | None, message: str, **variables) -> str:
    with speaking(language):
        return gettext(message, **variables)
