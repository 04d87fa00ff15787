"""/api/v1/webhook-endpoints: where a partner hears about its shipments, and the log of
what was sent."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.errors import ApiError
from app.api.orders import before_id, make_cursor, require_partner
from app.api.schemas import (
    ApiErrorSchema,
    DeliveryPageSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    EndpointCreatedSchema,
    EndpointCreateSchema,
    EndpointSchema,
    EndpointUpdateSchema,
    EventTypesSchema,
    ReplayResultSchema,
    ReplaySchema,
    SecretSchema,
)
from app.db import db
from app.webhooks import services as webhooks

blp = Blueprint("webhooks", __name__, url_prefix="/api/v1",
                description="Webhook endpoints: events about your shipments, signed per Standard Webhooks")
blp.before_request(require_partner)


def _allow_private() -> bool:
    return current_app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"]


def _endpoint(endpoint_id: int):
    found = webhooks.endpoint_of(db.session, g.partner.id, endpoint_id)
    if found is None:
        raise ApiError(404, "not_found", f"no webhook endpoint {endpoint_id}")
    return found


def _refused(exc: webhooks.WebhookError) -> ApiError:
    return ApiError(422, "webhook_rejected", str(exc))


@blp.route("/webhook-event-types")
class EventTypes(MethodView):
    @blp.response(200, EventTypesSchema())
    def get(self):
        """Every event type an endpoint can subscribe to."""
        return {"data": list(webhooks.EVENT_TYPES)}


@blp.route("/webhook-endpoints")
class Endpoints(MethodView):
    @blp.response(200, EndpointSchema(many=True))
    def get(self):
        """Your webhook endpoints."""
        return webhooks.endpoints_of(db.session, g.partner.id)

    @blp.arguments(EndpointCreateSchema())
    @blp.response(201, EndpointCreatedSchema())
    @blp.alt_response(422, schema=ApiErrorSchema, description="URL refused, or too many endpoints")
    def post(self, data):
        """Register an endpoint. The answer carries its signing `secret`, shown this once."""
        try:
            endpoint = webhooks.create_endpoint(db.session, g.partner, url=data["url"],
                                                event_types=data["event_types"],
                                                description=data["description"], allow_private=_allow_private())
        except webhooks.WebhookError as exc:
            raise _refused(exc) from None
        return endpoint


@blp.route("/webhook-endpoints/<id:endpoint_id>")
class EndpointById(MethodView):
    @blp.response(200, EndpointSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, endpoint_id):
        """One of your endpoints."""
        return _endpoint(endpoint_id)

    @blp.arguments(EndpointUpdateSchema())
    @blp.response(200, EndpointSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def patch(self, data, endpoint_id):
        """Change the URL, the event types or the description; `enabled: true` enables an
        endpoint that was disabled, `false` pauses it (what waits to be sent is cancelled;
        replay it later)."""
        endpoint = _endpoint(endpoint_id)
        try:
            webhooks.update_endpoint(db.session, endpoint, allow_private=_allow_private(), **data)
        except webhooks.WebhookError as exc:
            raise _refused(exc) from None
        return endpoint

    @blp.response(204)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def delete(self, endpoint_id):
        """Delete an endpoint and its delivery log."""
        webhooks.delete_endpoint(db.session, _endpoint(endpoint_id))


@blp.route("/webhook-endpoints/<id:endpoint_id>/rotate-secret")
class RotateSecret(MethodView):
    @blp.response(200, SecretSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def post(self, endpoint_id):
        """A new signing secret, shown this once. For 24 hours every delivery carries two
        signatures, one per secret, so your receiver can switch without missing one."""
        endpoint = _endpoint(endpoint_id)
        secret = webhooks.rotate_secret(db.session, endpoint)
        return {"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at}


@blp.route("/webhook-endpoints/<id:endpoint_id>/test")
class TestEvent(MethodView):
    @blp.response(202, DeliverySchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema, description="The endpoint is disabled")
    def post(self, endpoint_id):
        """Send a `webhook.test` event now, signed and logged like any other."""
        endpoint = _endpoint(endpoint_id)
        if not endpoint.enabled:
            raise ApiError(409, "endpoint_disabled", "enable the endpoint first")
        delivery = webhooks.send_test(db.session, endpoint)
        db.after_commit(_kick_sender)
        return delivery


@blp.route("/webhook-endpoints/<id:endpoint_id>/replay")
class Replay(MethodView):
    @blp.arguments(ReplaySchema())
    @blp.response(202, ReplayResultSchema())
    @blp.alt_response(404, schema=ApiErrorSchema, description="No such endpoint or event")
    @blp.alt_response(409, schema=ApiErrorSchema, description="The endpoint is disabled")
    @blp.alt_response(422, schema=ApiErrorSchema)
    @blp.alt_response(429, schema=ApiErrorSchema, description="Over the replay quota (5,000 events an hour)")
    def post(self, data, endpoint_id):
        """Send again one event (`event_id`), or every event from `since` to `until` of
        the types the endpoint subscribes to, with their original ids (so a receiver that
        already has one can tell)."""
        endpoint = _endpoint(endpoint_id)
        if not endpoint.enabled:
            raise ApiError(409, "endpoint_disabled", "enable the endpoint first")
        try:
            count = webhooks.replay(db.session, endpoint, event=data.get("event_id"),
                                    since=data.get("since"), until=data.get("until"))
        except LookupError as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except webhooks.WebhookError as exc:
            raise _refused(exc) from None
        except webhooks.ReplayQuotaExceeded as exc:
            raise ApiError(429, "replay_quota_exceeded", str(exc),
                           headers={"Retry-After": str(exc.retry_after)}) from None
        db.after_commit(_kick_sender)
        return {"deliveries": count}


@blp.route("/webhook-endpoints/<id:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(DeliveryQuerySchema(), location="query")
    @blp.response(200, DeliveryPageSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, query, endpoint_id):
        """The delivery log, newest first: each event sent to this endpoint, its status and
        every attempt with the response code and time."""
        endpoint = _endpoint(endpoint_id)
        page, last = webhooks.deliveries_of(db.session, endpoint.id, status=query.get("status"),
                                            before_id=before_id(query.get("cursor"), "d"), limit=query["limit"])
        return {"data": page, "next_cursor": make_cursor(last, "d")}


def _kick_sender() -> None:
    """Have the due deliveries sent now rather than at the next periodic sweep. The
    actor is found by name on the app's broker: ``app`` never imports ``workers``."""
    try:
        current_app.extensions["dramatiq"].get_actor("deliver_webhooks").send()
    except Exception:  # the periodic sweep sends it anyway
        current_app.logger.warning("could not enqueue deliver_webhooks", exc_info=True)
