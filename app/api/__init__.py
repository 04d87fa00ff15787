"""The partner REST API under /api/v1, OpenAPI-first with flask-smorest.

flask-smorest rather than APIFlask: it attaches to Waybill's plain Flask app with
``init_app`` like every other extension, where APIFlask wants to be the app class.
"""
from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from app.api.errors import CODES, ApiError
from app.api.parsing import BodyTextError, Parser
from app.api.schemas import ApiErrorSchema
from app.db import MAX_ID, db
from app.errors import page_error

API_PREFIX = "/api/v1"
#: Every API blueprint reads bodies through Waybill's parser (set before they are imported).
Blueprint.ARGUMENTS_PARSER = Parser()


class WaybillApi(Api):
    """flask-smorest's Api with Waybill's error format, for API paths only."""

    ERROR_SCHEMA = ApiErrorSchema

    def _register_error_handlers(self):
        self._app.register_error_handler(HTTPException, self.handle_http_exception)
        self._app.register_error_handler(ApiError, lambda e: e.response())
        self._app.register_error_handler(BodyTextError, lambda e: ApiError(
            422, "validation_failed", "some text cannot be stored: see details for each field",
            e.problems).response())

    def handle_http_exception(self, error):
        if not request.path.startswith(API_PREFIX):
            return page_error(error)
        data = getattr(error, "data", None) or {}
        if error.code == 429:
            from app.api.ratelimit import retry_after

            return ApiError(429, "rate_limited", f"too many requests for this key ({error.description}); "
                            "retry after the number of seconds in Retry-After",
                            headers={"Retry-After": str(retry_after())}).response()
        details = data.get("errors") or data.get("messages")
        message = data.get("message") or error.description
        if error.code == 422 and details:
            message = "the request is not valid: see details for each field"
        return ApiError(error.code, CODES.get(error.code, "error"), message, details,
                        data.get("headers")).response()


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive integer a database id column can hold; anything larger
    matches no route (404) rather than overflowing the query."""

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=MAX_ID)


api = WaybillApi()


def _end_transaction(response):
    """The API's one commit point (the pattern Indico uses): services change and flush;
    a request answered without error commits what they wrote, an error answer rolls it
    back. (Taking an order commits inside ``idempotency``: the key and the order are one
    transaction with the stored answer.)"""
    if request.path.startswith(API_PREFIX) and db.session.registry.has() and db.session().in_transaction():
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
    return response


def init_app(app: Flask) -> tuple:
    app.config.setdefault("API_TITLE", "Waybill partner API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # The reference (Swagger UI, from npm: see app/vendor.py) at /api/v1/reference.
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "reference")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/vendor/swagger-ui-dist/")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "components": {"securitySchemes": {"apiKey": {
            "type": "http", "scheme": "bearer",
            "description": "Your API key: `Authorization: Bearer wbk_...`"}}},
        "security": [{"apiKey": []}],
    })
    app.url_map.converters["id"] = IdConverter
    app.after_request(_end_transaction)
    api.init_app(app)
    api.register_converter(IdConverter, lambda converter: {"type": "integer", "minimum": 1,
                                                          "maximum": MAX_ID})
    from app.api.network import blp as network_blp
    from app.api.inbound import blp as inbound_blp
    from app.api.keys import blp as keys_blp
    from app.api.inbound import setup_blp as inbound_setup_blp
    from app.api.orders import blp as orders_blp
    from app.api.webhooks import blp as webhooks_blp
    from app.api.finance import blp as finance_blp
    from app.api.cases import blp as cases_blp

    api.register_blueprint(orders_blp)
    api.register_blueprint(finance_blp)
    api.register_blueprint(network_blp)
    api.register_blueprint(webhooks_blp)
    api.register_blueprint(inbound_setup_blp)
    api.register_blueprint(inbound_blp)
    api.register_blueprint(keys_blp)
    api.register_blueprint(cases_blp)
    from app.api.schemas import InboundEnvelopeSchema
    from app.api import ratelimit

    if "InboundEnvelope" not in api.spec.components.schemas:  # the inbound route's body, documented by name
        api.spec.components.schema("InboundEnvelope", schema=InboundEnvelopeSchema)
    blueprints = (orders_blp, network_blp, webhooks_blp, inbound_setup_blp, inbound_blp, keys_blp, finance_blp, cases_blp)
    ratelimit.init_app(app, blueprints)
    return blueprints
