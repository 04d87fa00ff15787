"""Delivery: drivers, pickup runs, run sheets, attempts and proof of delivery."""
