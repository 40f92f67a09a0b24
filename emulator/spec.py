"""The Bot API as published, loaded from the bundled ``botapi-fields.json``.

The emulator must refuse what Telegram refuses, not what we guess it refuses, so method and
field checks come from the scraped specification (see SPEC_SOURCE.md) rather than from code.
The file is read with importlib.resources so an installed wheel works without the repo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .errors import bad_request

_SCALARS = {"String", "Integer", "Float", "Boolean"}


@dataclass(frozen=True)
class Field:
    """One parameter of a method."""

    name: str
    required: bool
    types: tuple[str, ...]

    @property
    def string_only(self) -> bool:
        """Plain String fields are never JSON-decoded: text "123" must stay a string."""
        return self.types == ("String",)


@dataclass(frozen=True)
class Method:
    """One Bot API method with its canonical (documented) name."""

    name: str
    fields: dict[str, Field]
    returns: tuple[str, ...]


class Spec:
    """Lookup and validation against the published API."""

    def __init__(self, raw: dict[str, Any]):
        self.version: str = raw.get("version", "")
        self.types: dict[str, Any] = raw.get("types", {})
        self.methods: dict[str, Method] = {}
        for name, body in raw.get("methods", {}).items():
            fields = {
                f["name"]: Field(f["name"], bool(f.get("required")), tuple(f.get("types", ())))
                for f in body.get("fields", [])
            }
            self.methods[name.lower()] = Method(name, fields, tuple(body.get("returns", ())))

    def method(self, name: str) -> Method | None:
        """Telegram matches method names case-insensitively."""
        return self.methods.get(name.lower())

    def validate(self, method: Method, params: dict[str, Any]) -> dict[str, Any]:
        """Decode form/JSON values by their spec type and refuse what Telegram refuses.

        Returns a new dict of decoded values (absent/None values dropped).
        """
        out: dict[str, Any] = {}
        for key, value in params.items():
            field = method.fields.get(key)
            if field is None:
                raise bad_request(f'unknown parameter "{key}"')
            if value is None:
                continue
            out[key] = decode_value(field, value)
        for field in method.fields.values():
            if field.required and field.name not in out:
                raise bad_request(f'parameter "{field.name}" is required')
        return out


def _is_upload(value: Any) -> bool:
    return isinstance(value, dict) and "_upload" in value


def decode_value(field: Field, value: Any) -> Any:
    """Turn a wire value into the typed value the spec describes, or raise 400.

    python-telegram-bot sends every parameter as a string in a form body, with objects and
    arrays JSON-encoded, integers as digits and booleans as "true"/"false".
    """
    types = field.types
    if _is_upload(value):
        if "InputFile" in types:
            return value
        raise bad_request(f'field "{field.name}" can\'t be a file')
    if field.string_only:
        if isinstance(value, (dict, list, bool)):
            raise bad_request(f'field "{field.name}" must be of type String')
        return value if isinstance(value, str) else str(value)
    if isinstance(value, str):
        if "Integer" in types:
            try:
                return int(value.strip())
            except ValueError:
                if "String" in types:
                    return value
                raise bad_request(f'field "{field.name}" must be of type Integer') from None
        if "Float" in types:
            try:
                return float(value.strip())
            except ValueError:
                raise bad_request(f'field "{field.name}" must be of type Float') from None
        if "Boolean" in types:
            low = value.strip().lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0", ""):
                return False
            raise bad_request(f'field "{field.name}" must be of type Boolean')
        if "String" in types or "InputFile" in types:
            return value
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {field.name} JSON object") from None
    return _check_shape(field, value)


def _check_shape(field: Field, value: Any) -> Any:
    """Cheap structural checks on already-decoded values."""
    types = field.types
    if isinstance(value, bool):
        if "Boolean" in types:
            return value
        if "Integer" in types or "Float" in types:
            return int(value)
    elif isinstance(value, int):
        if "Integer" in types:
            return value
        if "Float" in types:
            return float(value)
        if "String" in types:
            return str(value)
        if "Boolean" in types:
            return bool(value)
    elif isinstance(value, float):
        if "Float" in types:
            return value
        if "Integer" in types and value.is_integer():
            return int(value)
    elif isinstance(value, str):
        if "String" in types or "InputFile" in types:
            return value
    elif isinstance(value, list):
        if any(t.startswith("Array of") for t in types):
            return value
    elif isinstance(value, dict):
        if any(t not in _SCALARS and not t.startswith("Array of") for t in types):
            return value
    raise bad_request(f'field "{field.name}" must be of type {" or ".join(types)}')


@lru_cache(maxsize=1)
def load_spec() -> Spec:
    """The bundled specification (parsed once per process)."""
    text = resources.files("emulator").joinpath("botapi-fields.json").read_text(encoding="utf-8")
    return Spec(json.loads(text))
