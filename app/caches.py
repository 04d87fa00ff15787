"""What a process keeps between transactions, in one place, to drop when the database
under it is emptied or replaced (tests, benchmarks, a restore)."""


def forget_all() -> None:
    from app.api.network import TRACKING_BODIES
    from app.billing.rating import invalidate_rate_cards
    from app.crm.services import forget_api_keys, forget_pickup_locations
    from app.hubs.routing import invalidate_network
    from app.orders.promises import forget_loads

    forget_api_keys()
    forget_pickup_locations()
    invalidate_network()
    invalidate_rate_cards()
    forget_loads()
    TRACKING_BODIES.clear()
