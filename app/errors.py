"""Error pages for people (the API answers in JSON: app/api): the site's own page with its
menu, a title and a sentence that says what to do."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from app.db import database_unreachable

#: Title and advice per status; a view's own description (abort(400, description=...))
#: replaces the advice.
PAGES = {
    400: (_l("That request was not understood"), _l("Check what was typed and try again.")),
    403: (_l("Not yours to see"), _l("Your role does not open this page; ask an admin if you need it.")),
    404: (_l("Not found"), _l("There is nothing at this address, or it is not in your part of the network.")),
    405: (_l("Not allowed"), _l("This page does not take that kind of request.")),
    413: (_l("Too large"), _l("What was sent is larger than this page takes.")),
    429: (_l("Too many requests"), _l("Wait a minute, then try again.")),
    503: (_l("Back in a moment"), _l("Waybill cannot reach its database just now. Nothing you sent was lost: "
                                     "try again in a few seconds.")),
}
#: Seconds a client is told to wait when the database does not answer.
UNAVAILABLE_RETRY_AFTER = 5


def page_error(error: HTTPException):
    title, advice = PAGES.get(error.code, (error.name, _l("Something went wrong; try again.")))
    custom = error.description and error.description != type(error).description
    response = render_template("error.html", title=title, message=error.description if custom else advice)
    headers = {}
    if error.code == 429:
        from app.api.ratelimit import retry_after

        headers["Retry-After"] = str(retry_after())
    if error.code == 503:
        headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response, error.code or 500, headers


def unavailable(error):
    """A database error that reached the edge: 503 with Retry-After when the database could
    not be reached (its transaction never committed; the pool replaces the connections it
    dropped, so the next request after it is back succeeds). Any other is a fault: raised."""
    if not database_unreachable(error):
        raise error
    from flask import request
    from werkzeug.exceptions import ServiceUnavailable

    from app.db import db

    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the session is dropped at teardown
        pass
    if request.path.startswith("/api/"):
        from app.api.errors import ApiError

        return ApiError(503, "unavailable", "the database is not answering just now; nothing was stored: "
                        "retry after the seconds in Retry-After",
                        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}).response()
    return page_error(ServiceUnavailable())
