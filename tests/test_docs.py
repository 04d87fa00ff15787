"""The docs describe the code as it is."""
import re
from pathlib import Path

from app.orders.lifecycle import mermaid_diagram

ROOT = Path(__file__).resolve().parent.parent


def test_architecture_shows_the_lifecycle_generated_from_the_table():
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    shown = re.search(r"<!-- lifecycle:begin -->\n```mermaid\n(.*?)\n```\n<!-- lifecycle:end -->",
                      text, re.S)
    assert shown, "the lifecycle block is missing"
    assert shown.group(1) == mermaid_diagram(), (
        "docs/ARCHITECTURE.md is out of date: regenerate with `python -m app.orders.lifecycle`")
