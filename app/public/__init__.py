"""Pages anyone may open: the tracking page for end customers."""
