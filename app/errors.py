"""Error pages for people (the API answers in JSON: app/api): the site's own page with its
menu, a title and a sentence that says what to do."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

#: Title and advice per status; a view's own description (abort(400, description=...))
#: replaces the advice.
PAGES = {
    400: (_l("That request was not understood"), _l("Check what was typed and try again.")),
    403: (_l("Not yours to see"), _l("Your role does not open this page; ask an admin if you need it.")),
    404: (_l("Not found"), _l("There is nothing at this address, or it is not in your part of the network.")),
    405: (_l("Not allowed"), _l("This page does not take that kind of request.")),
    413: (_l("Too large"), _l("What was sent is larger than this page takes.")),
    429: (_l("Too many requests"), _l("Wait a minute, then try again.")),
}


def page_error(error: HTTPException):
    title, advice = PAGES.get(error.code, (error.name, _l("Something went wrong; try again.")))
    custom = error.description and error.description != type(error).description
    response = render_template("error.html", title=title, message=error.description if custom else advice)
    headers = {}
    if error.code == 429:
        from app.api.ratelimit import retry_after

        headers["Retry-After"] = str(retry_after())
    return response, error.code or 500, headers
