"""Reading JSON bodies safely, for the API and the driver's phone: anything Python's JSON
reader refuses (nesting too deep, integers of thousands of digits) is a 400, and text a
database cannot store (a NUL, a lone surrogate) is a 422 naming the field."""
from __future__ import annotations

import json
from typing import Any

from webargs.flaskparser import FlaskParser


class BodyTextError(ValueError):
    """Fields whose text cannot be stored: ``problems`` maps each path to why."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(f"{path}: {why}" for path, why in problems.items()))


def loads(raw: bytes | str) -> Any:
    """JSON as Python, or json.JSONDecodeError for anything that is not JSON this server reads."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # too deep, too many digits, bad bytes
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise json.JSONDecodeError(f"not a JSON body this server reads: {message}", "", 0) from None


def text_problems(value: Any, path: str = "", found: dict[str, str] | None = None) -> dict[str, str]:
    """Every string (key or value) in ``value`` holding a NUL or a lone surrogate, by path."""
    found = {} if found is None else found
    if isinstance(value, str):
        if "\x00" in value:
            found[path or "(body)"] = "must not contain a NUL character"
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                found[path or "(body)"] = "is not valid text (a lone surrogate)"
    elif isinstance(value, dict):
        for key, item in value.items():
            text_problems(key, f"{path}.{key}" if path else str(key), found)
            text_problems(item, f"{path}.{key}" if path else str(key), found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            text_problems(item, f"{path}[{i}]", found)
    return found


def checked(value: Any) -> Any:
    problems = text_problems(value)
    if problems:
        raise BodyTextError(problems)
    return value


class Parser(FlaskParser):
    """flask-smorest's parser, reading bodies with ``loads`` and ``checked``."""

    def _raw_load_json(self, req):
        from webargs import core
        from webargs.flaskparser import is_json_request

        if not is_json_request(req):
            return core.missing
        return checked(loads(req.get_data(cache=True)))
