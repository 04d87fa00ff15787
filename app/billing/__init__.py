"""Billing: rate cards, charges, COD collected, drivers' cash; money in integer minor units."""
