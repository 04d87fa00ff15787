"""Browser libraries, served from node_modules (installed from npm by `make`, pinned in
package.json and package-lock.json, never committed)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
#: The packages pages may load, and nothing else from node_modules.
PACKAGES = frozenset({"swagger-ui-dist", "leaflet", "htmx.org", "signature_pad", "@zxing/browser"})

bp = Blueprint("vendor", __name__)


@bp.get("/vendor/<package>/<path:filename>")
def asset(package: str, filename: str):
    if package.startswith("@"):  # a scoped package: /vendor/@scope/name/file
        name, _, filename = filename.partition("/")
        package = f"{package}/{name}"
    if package not in PACKAGES:
        abort(404)
    response = send_from_directory(NODE_MODULES / package, filename, max_age=86400)
    return response
