"""The driver's pages under /driver (phone first)."""
