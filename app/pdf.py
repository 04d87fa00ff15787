"""Fonts for the PDFs Waybill draws (labels, run sheets, invoices, statements): a TrueType
font with the Vietnamese letters when one is installed (WAYBILL_LABEL_FONT, else DejaVu
Sans), else the built-in fonts with the text written without accents."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from app.words import without_accents

#: Fonts with the Vietnamese letters, looked for in this order; WAYBILL_LABEL_FONT first.
FONT_PATHS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
)


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    #: False when only the built-in fonts were found: text is then written without accents.
    unicode: bool


@lru_cache(maxsize=4)
def fonts(configured: str | None) -> Fonts:
    candidates = list(FONT_PATHS)
    if configured:
        bold = configured.replace(".ttf", "-Bold.ttf")
        candidates.insert(0, (configured, bold if os.path.exists(bold) else configured))
    for regular, bold in candidates:
        if os.path.exists(regular) and os.path.exists(bold):
            pdfmetrics.registerFont(TTFont("Label", regular))
            pdfmetrics.registerFont(TTFont("Label-Bold", bold))
            return Fonts("Label", "Label-Bold", True)
    return Fonts("Helvetica", "Helvetica-Bold", False)


def plain(text: str) -> str:
    """Text without accents, for when no font with them is installed."""
    return without_accents(text)
