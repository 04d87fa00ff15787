"""Orders and shipments: intake, the lifecycle, tracking events, labels."""
