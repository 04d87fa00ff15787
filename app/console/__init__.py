"""The dispatcher console: staff pages under /console."""
