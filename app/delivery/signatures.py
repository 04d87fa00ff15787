"""Signatures drawn on the driver's phone, kept as SVG: rebuilt on the server from a short
list of drawing elements and attributes, so a stored signature can carry no script, link
or external reference whatever a client sends."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

SVG_NS = "http://www.w3.org/2000/svg"
#: What a signature pad draws with.
ELEMENTS = {"svg", "g", "path", "circle", "ellipse", "rect", "line", "polyline"}
ATTRIBUTES = {"viewBox", "width", "height", "d", "cx", "cy", "r", "rx", "ry", "x", "y", "x1", "y1", "x2", "y2",
              "points", "fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin", "opacity",
              "fill-opacity", "stroke-opacity"}
#: Colours and numbers only: no url(), no references.
_VALUE = re.compile(r"[#\w\s.,%()+-]*")
MAX_LENGTH = 200_000


class SignatureError(ValueError):
    pass


def clean_signature(text: str | None) -> str | None:
    """The signature as a clean SVG document, or None for none; SignatureError when it is
    not a drawing."""
    if text is None or not str(text).strip():
        return None
    text = str(text)
    if len(text) > MAX_LENGTH:
        raise SignatureError("the signature is too large")
    try:
        root = SafeET.fromstring(text)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise SignatureError("the signature must be an SVG drawing") from None
    if _name(root) != "svg":
        raise SignatureError("the signature must be an SVG drawing")
    ET.register_namespace("", SVG_NS)
    return ET.tostring(_copy(root), encoding="unicode")


def _name(element) -> str:
    tag = element.tag
    if isinstance(tag, str) and tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return local if namespace == SVG_NS else ""
    return tag if isinstance(tag, str) else ""


def _copy(element) -> ET.Element:
    name = _name(element)
    if name not in ELEMENTS:
        raise SignatureError(f"a signature is a drawing: <{name or element.tag}> is not allowed in it")
    clean = ET.Element(f"{{{SVG_NS}}}{name}")
    for key, value in element.attrib.items():
        if key in ATTRIBUTES and _VALUE.fullmatch(value) and "url" not in value.lower():
            clean.set(key, value)
    for child in element:
        clean.append(_copy(child))
    return clean
