"""Waybill benchmarks: ``python -m bench`` prints one JSON object per line per figure."""
