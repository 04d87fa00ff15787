"""Error pages for people (the API answers in JSON: app/api): the site's own page with its
menu, a title and a sentence that says what to do."""
from __future__ import annotations

from flask import render_template
from werkzeug.exceptions import HTTPException

#: Title and advice per status; a view's own description (abort(400, description=...))
#: replaces the advice.
PAGES = {
    400: ("That request was not understood", "Check what was typed and try again."),
    403: ("Not yours to see", "Your role does not open this page; ask an admin if you need it."),
    404: ("Not found", "There is nothing at this address, or it is not in your part of the network."),
    405: ("Not allowed", "This page does not take that kind of request."),
    413: ("Too large", "What was sent is larger than this page takes."),
    429: ("Too many requests", "Wait a minute, then try again."),
}


def page_error(error: HTTPException):
    title, advice = PAGES.get(error.code, (error.name, "Something went wrong; try again."))
    custom = error.description and error.description != type(error).description
    response = render_template("error.html", title=title, message=error.description if custom else advice)
    headers = {}
    if error.code == 429:
        from app.api.ratelimit import retry_after

        headers["Retry-After"] = str(retry_after())
    return response, error.code or 500, headers
