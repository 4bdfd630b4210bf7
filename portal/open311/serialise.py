"""The two formats of GeoReport v2: XML, and JSON mapped from it by the Spark convention.

A response is built once as plain Python (dicts, lists, strings, numbers, booleans, None)
and written in either format:

- XML: the root element is named by the resource (`services`, `service_requests`,
  `errors`, ...); a list becomes one child element per item, named as in the specification
  (`service`, `request`, `error`, `attribute`, `value`, ...); `None` is an empty element;
  booleans are `true`/`false`. ElementTree escapes every text; the characters XML 1.0
  does not allow at all (control characters, lone surrogates, U+FFFE, U+FFFF), which a
  client can put in a URL and see echoed, are left out first (`xml_text`).
- JSON: the root element disappears; a list is a JSON array, a dict an object.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 - only builds documents; nothing is parsed
from typing import Any

from flask import Response

XML_TYPE = "text/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'

# The element of each item in a list, by the name of the list (as in the specification).
ITEM_ELEMENTS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}


# Everything outside XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] |
# [#xE000-#xFFFD] | [#x10000-#x10FFFF]. ElementTree would write these as they are.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """The text without the characters an XML 1.0 document cannot hold, even escaped."""
    return _NOT_XML.sub("", text)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            _fill(ET.SubElement(element, name), child)
    elif isinstance(value, list):
        item_name = ITEM_ELEMENTS[element.tag]
        for item in value:
            _fill(ET.SubElement(element, item_name), item)
    else:
        text = _text(value)
        element.text = None if text is None else xml_text(text)


def to_xml(root: str, value: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, value)
    ET.indent(element)
    return XML_DECLARATION + ET.tostring(element, encoding="unicode").encode("utf-8")


def to_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1).encode("utf-8")


def respond(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """The response in the format the client asked for (`json` or `xml`)."""
    if fmt == "json":
        return Response(to_json(value), status=status, content_type=JSON_TYPE)
    return Response(to_xml(root, value), status=status, content_type=XML_TYPE)


def errors(fmt: str, status: int, problems: list[tuple[int, str]]) -> Response:
    """The specification's error body: a list of {code, description}."""
    body = [{"code": code, "description": description} for code, description in problems]
    return respond(fmt, "errors", body, status)
