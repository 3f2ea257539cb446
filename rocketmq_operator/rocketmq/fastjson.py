"""A tolerant reader for the JSON that RocketMQ's servers write.

RocketMQ serialises its bodies with fastjson, which is not always standard JSON: a map whose keys are
not strings is written with bare keys, for example a broker's addresses as ``{0:"127.0.0.1:10911"}``
and a consumer's offsets keyed by message-queue objects as ``{{"brokerName":"b","queueId":0}:{...}}``.
``loads`` reads standard JSON through the standard library (fast path) and falls back to a small
recursive-descent parser that also accepts:

* bare integer, decimal and identifier keys (``{0:"a"}``, ``{-1:"b"}``, ``{name:"c"}``);
* objects and arrays used as keys, which become hashable tuples: an object key becomes the tuple of its
  ``(name, value)`` pairs in document order, an array key becomes a tuple of its items;
* single-quoted strings and trailing commas.

Anything else raises ``JsonSyntaxError`` (a ``ValueError``) with the offset of the problem. Nesting is
capped so that hostile input cannot exhaust the stack.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_DEPTH", "JsonSyntaxError", "loads"]

MAX_DEPTH = 128

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"', re.DOTALL)
_SINGLE_QUOTED = re.compile(r"'(?:[^'\\\x00-\x1f]|\\.)*'", re.DOTALL)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_LITERALS = {"true": True, "false": False, "null": None}


class JsonSyntaxError(ValueError):
    """The text is not JSON, not even in fastjson's relaxed dialect."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at offset {position}")
        self.position = position


def loads(text: str | bytes) -> Any:
    """Parse ``text`` (UTF-8 bytes or str) as standard JSON or fastjson's relaxed dialect."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonSyntaxError("invalid UTF-8", exc.start) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise JsonSyntaxError("nesting too deep", 0) from None
    except ValueError:
        pass
    parser = _Parser(text)
    value = parser.value(depth=0)
    parser.skip_whitespace()
    if parser.pos != len(text):
        raise JsonSyntaxError("trailing characters", parser.pos)
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_whitespace(self) -> None:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()

    def peek(self) -> str:
        self.skip_whitespace()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise JsonSyntaxError(f"expected {char!r}", self.pos)
        self.pos += 1

    def value(self, *, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise JsonSyntaxError("nesting too deep", self.pos)
        char = self.peek()
        if not char:
            raise JsonSyntaxError("unexpected end of input", self.pos)
        if char == "{":
            return self.object(depth=depth + 1)
        if char == "[":
            return self.array(depth=depth + 1)
        if char in "\"'":
            return self.string()
        if char == "-" or char.isdigit():
            return self.number()
        match = _IDENTIFIER.match(self.text, self.pos)
        if match and match.group() in _LITERALS:
            self.pos = match.end()
            return _LITERALS[match.group()]
        raise JsonSyntaxError("unexpected character", self.pos)

    def object(self, *, depth: int) -> dict[Any, Any]:
        self.expect("{")
        result: dict[Any, Any] = {}
        while self.peek() != "}":
            key = self.key(depth=depth)
            self.expect(":")
            result[key] = self.value(depth=depth)
            if not self.separator("}"):
                break
        self.expect("}")
        return result

    def array(self, *, depth: int) -> list[Any]:
        self.expect("[")
        result: list[Any] = []
        while self.peek() != "]":
            result.append(self.value(depth=depth))
            if not self.separator("]"):
                break
        self.expect("]")
        return result

    def separator(self, closing: str) -> bool:
        """Consume a comma; say whether another member may follow."""
        char = self.peek()
        if char == ",":
            self.pos += 1
            return True
        if char != closing:
            raise JsonSyntaxError(f"expected ',' or {closing!r}", self.pos)
        return False

    def key(self, *, depth: int) -> Any:
        char = self.peek()
        if char and char in "{[":
            return _freeze(self.value(depth=depth))
        if char and char not in "\"'-" and not char.isdigit():
            match = _IDENTIFIER.match(self.text, self.pos)
            if match:
                self.pos = match.end()
                return _LITERALS.get(match.group(), match.group())
        return self.value(depth=depth)

    def string(self) -> str:
        quote = self.text[self.pos]
        pattern = _DOUBLE_QUOTED if quote == '"' else _SINGLE_QUOTED
        match = pattern.match(self.text, self.pos)
        if not match:
            raise JsonSyntaxError("unterminated string", self.pos)
        raw = match.group()[1:-1]
        self.pos = match.end()
        if quote == "'":
            raw = raw.replace("\\'", "'").replace('"', '\\"')
        try:
            return json.loads(f'"{raw}"')
        except ValueError:
            raise JsonSyntaxError("invalid string escape", match.start()) from None

    def number(self) -> int | float:
        match = _NUMBER.match(self.text, self.pos)
        if not match:
            raise JsonSyntaxError("invalid number", self.pos)
        self.pos = match.end()
        token = match.group()
        try:
            return float(token) if any(c in token for c in ".eE") else int(token)
        except ValueError:  # more digits than Python converts
            raise JsonSyntaxError("number too long", match.start()) from None


def _freeze(value: Any) -> Any:
    """Turn an object or array used as a key into a hashable tuple."""
    if isinstance(value, dict):
        return tuple((name, _freeze(item)) for name, item in value.items())
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value
