"""The network: shipping centres and local hubs, routing, scans, bags and line-hauls."""
