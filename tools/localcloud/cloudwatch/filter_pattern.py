"""CloudWatch Logs filter patterns: parse once, match many log events.

The three forms AWS documents ("Filter pattern syntax for metric filters"):

- terms: ``ERROR``, ``"Failed to process"`` (a phrase), ``?ERROR ?WARN`` (any of), ``ERROR -Exiting``
  (exclusion); case-sensitive substrings; an empty pattern matches every event;
- JSON: ``{ $.level = "ERROR" }``, ``{ $.latency >= 500 }``, ``{ $.ip != 10.0.* }``, ``&&``, ``||``,
  parentheses, ``IS NULL``, ``IS TRUE``/``IS FALSE``, ``NOT EXISTS``, ``= *`` (present);
- space-delimited: ``[ip, user, ..., status = 5*, bytes > 1000]``.

``compile_pattern(text)`` returns a ``Pattern``; ``Pattern.match(message)`` returns ``None`` when
the event does not match, else a ``Match`` whose ``value(selector)`` reads ``$.field`` (JSON) or
``$name``/``$3`` (space-delimited) for a metric transformation's value and dimensions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Match", "Pattern", "PatternError", "compile_pattern", "select"]


class PatternError(ValueError):
    """The pattern is not valid filter-pattern syntax (AWS answers InvalidParameterException)."""


_MISSING = object()
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class Match:
    """A matching event: its parsed JSON document, or the fields of a space-delimited pattern."""

    document: Any = _MISSING
    fields: dict[str, str] = field(default_factory=dict)

    def value(self, selector: str) -> Any:
        """The value a transformation's ``$.path`` / ``$name`` names, or ``None`` when absent."""
        if selector.startswith("$.") or selector.startswith("$["):
            found = select(self.document, selector) if self.document is not _MISSING else _MISSING
            return None if found is _MISSING else found
        if selector.startswith("$"):
            return self.fields.get(selector[1:])
        return selector


Predicate = Callable[[str], Match | None]


@dataclass
class Pattern:
    text: str
    _predicate: Predicate

    def match(self, message: str) -> Match | None:
        return self._predicate(message)


def compile_pattern(text: str) -> Pattern:
    stripped = (text or "").strip()
    if not stripped or stripped == '""':
        return Pattern(text, lambda _m: Match())
    if stripped.startswith("{"):
        return Pattern(text, _json_pattern(stripped))
    if stripped.startswith("["):
        return Pattern(text, _delimited_pattern(stripped))
    return Pattern(text, _term_pattern(stripped))


# --- terms ---------------------------------------------------------------------------------------


def _term_pattern(text: str) -> Predicate:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    pos, prefix = 0, ""
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
            continue
        if char in "?-" and not prefix:
            prefix = char
            pos += 1
            continue
        if char == '"':
            end = _closing_quote(text, pos)
            term = _unescape(text[pos + 1 : end])
            pos = end + 1
        else:
            end = pos
            while end < len(text) and not text[end].isspace() and text[end] != '"':
                end += 1
            term = text[pos:end]
            pos = end
        {"?": optional, "-": excluded}.get(prefix, required).append(term)
        prefix = ""
    if prefix:
        raise PatternError(f"{prefix!r} must be followed by a term: {text!r}")

    def predicate(message: str) -> Match | None:
        if any(term not in message for term in required):
            return None
        if any(term in message for term in excluded):
            return None
        if optional and not any(term in message for term in optional):
            return None
        return Match()

    return predicate


def _closing_quote(text: str, start: int) -> int:
    pos = start + 1
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
            continue
        if text[pos] == '"':
            return pos
        pos += 1
    raise PatternError(f"unterminated quote in {text!r}")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# --- JSON ----------------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
      | (?P<selector>\$(?:\.[\w\-]+|\.\*|\[\d+\]|\[\*\])*)
      | (?P<word>[^\s()=!<>&|"]+)
    )""",
    re.VERBOSE,
)


def _tokens(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(body):
        if body[pos:].strip() == "":
            break
        m = _JSON_TOKEN.match(body, pos)
        if not m or m.end() == pos:
            raise PatternError(f"cannot parse {body[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


Condition = Callable[[Any], bool]


class _JsonParser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise PatternError("the pattern ends too early")
        self.pos += 1
        return token

    def parse(self) -> Condition:
        condition = self.disjunction()
        if self.peek() is not None:
            raise PatternError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return condition

    def disjunction(self) -> Condition:
        parts = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda doc: any(p(doc) for p in parts)

    def conjunction(self) -> Condition:
        parts = [self.atom()]
        while self.peek() == ("op", "&&"):
            self.take()
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else lambda doc: all(p(doc) for p in parts)

    def atom(self) -> Condition:
        kind, text = self.take()
        if (kind, text) == ("op", "("):
            inner = self.disjunction()
            if self.take() != ("op", ")"):
                raise PatternError("missing )")
            return inner
        if kind != "selector":
            raise PatternError(f"expected a $.selector, got {text!r}")
        selector = text
        kind, text = self.take()
        if kind == "word" and text.upper() in ("IS", "NOT"):
            second = self.take()[1].upper()
            if text.upper() == "NOT" and second == "EXISTS":
                return lambda doc: select(doc, selector) is _MISSING
            expected = {"NULL": None, "TRUE": True, "FALSE": False}
            if text.upper() == "IS" and second in expected:
                want = expected[second]
                return lambda doc: select(doc, selector) is want
            raise PatternError(f"unknown test {text} {second}")
        if kind != "op" or text not in ("=", "!=", "<", ">", "<=", ">="):
            raise PatternError(f"expected a comparison after {selector}, got {text!r}")
        operator = text
        kind, raw = self.take()
        if kind == "string":
            return _string_condition(selector, operator, _unescape(raw[1:-1]))
        if kind != "word":
            raise PatternError(f"expected a value after {selector} {operator}")
        if _NUMBER.match(raw):
            return _numeric_condition(selector, operator, float(raw))
        return _string_condition(selector, operator, raw)


def _value_node(found: Any) -> bool:
    return found is not _MISSING and not isinstance(found, dict | list)


def _numeric_condition(selector: str, operator: str, number: float) -> Condition:
    compare: dict[str, Callable[[float], bool]] = {
        "=": lambda v: v == number,
        "!=": lambda v: v != number,
        "<": lambda v: v < number,
        ">": lambda v: v > number,
        "<=": lambda v: v <= number,
        ">=": lambda v: v >= number,
    }
    test = compare[operator]

    def condition(doc: Any) -> bool:
        found = select(doc, selector)
        if isinstance(found, bool) or not isinstance(found, int | float):
            if isinstance(found, str) and _NUMBER.match(found):
                return test(float(found))
            return False
        return test(float(found))

    return condition


def _string_condition(selector: str, operator: str, expected: str) -> Condition:
    if operator not in ("=", "!="):
        raise PatternError(f"{operator} needs a number, not {expected!r}")
    glob = _glob(expected)
    want = operator == "="

    def condition(doc: Any) -> bool:
        found = select(doc, selector)
        if not _value_node(found):
            return False
        return bool(glob.fullmatch(_text(found))) is want

    return condition


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _glob(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)


def _json_pattern(text: str) -> Predicate:
    if not text.endswith("}"):
        raise PatternError(f"a JSON pattern ends with }}: {text!r}")
    condition = _JsonParser(_tokens(text[1:-1])).parse()

    def predicate(message: str) -> Match | None:
        try:
            document = json.loads(message)
        except ValueError:
            return None
        if not isinstance(document, dict | list):
            return None
        return Match(document=document) if condition(document) else None

    return predicate


_SELECTOR_STEP = re.compile(r"\.([\w\-]+|\*)|\[(\d+|\*)\]")


def select(document: Any, selector: str) -> Any:
    """``$.a.b[0]`` in a parsed JSON document; a private sentinel when the path does not exist."""
    if not selector.startswith("$"):
        raise PatternError(f"a selector starts with $: {selector!r}")
    nodes = [document]
    pos = 1
    while pos < len(selector):
        m = _SELECTOR_STEP.match(selector, pos)
        if not m:
            raise PatternError(f"bad selector {selector!r}")
        key, index = m.group(1), m.group(2)
        following: list[Any] = []
        for node in nodes:
            if key == "*" or index == "*":
                following.extend(
                    node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
                )
            elif key is not None and isinstance(node, dict) and key in node:
                following.append(node[key])
            elif index is not None and isinstance(node, list) and int(index) < len(node):
                following.append(node[int(index)])
        nodes = following
        pos = m.end()
    if not nodes:
        return _MISSING
    return nodes[0]


# --- space-delimited -----------------------------------------------------------------------------

_EVENT_FIELD = re.compile(r'"((?:[^"\\]|\\.)*)"|\[([^\]]*)\]|(\S+)')


def _event_fields(message: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None) for m in _EVENT_FIELD.finditer(message)]


def _delimited_pattern(text: str) -> Predicate:
    if not text.endswith("]"):
        raise PatternError(f"a space-delimited pattern ends with ]: {text!r}")
    specs: list[tuple[str, Callable[[dict[str, str]], bool] | None]] = []
    for index, raw in enumerate(_split_top(text[1:-1], ","), start=1):
        part = raw.strip()
        if part in ("...", "…"):
            specs.append(("...", None))
            continue
        name_match = re.match(r"[\w\-]+", part)
        name = name_match.group(0) if name_match else str(index)
        specs.append((name, _field_condition(part) if part != name else None))

    def predicate(message: str) -> Match | None:
        values = _event_fields(message)
        named = _bind(specs, values)
        if named is None:
            return None
        for _name, condition in specs:
            if condition is not None and not condition(named):
                return None
        return Match(fields=named)

    return predicate


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, []
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == sep and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _bind(specs: list[tuple[str, Any]], values: list[str]) -> dict[str, str] | None:
    """Field name -> event field, with ``...`` absorbing any number of fields (at most one)."""
    names = [name for name, _ in specs]
    if "..." in names:
        at = names.index("...")
        before, after = names[:at], names[at + 1 :]
        if len(values) < len(before) + len(after):
            return None
        bound = dict(zip(before, values, strict=False))
        if after:
            bound.update(zip(after, values[len(values) - len(after) :], strict=True))
    else:
        if len(values) != len(names):
            return None
        bound = dict(zip(names, values, strict=True))
    bound.update({str(i): v for i, v in enumerate(values, start=1)})
    return bound


def _field_condition(text: str) -> Callable[[dict[str, str]], bool]:
    """``status = 5* || status = 4*`` and ``bytes > 1000 && bytes < 9000`` over named fields."""
    alternatives = []
    for alternative in text.split("||"):
        tests = []
        for term in alternative.split("&&"):
            m = re.match(r"\s*([\w\-]+)\s*(!=|<=|>=|=|<|>)\s*(.+?)\s*$", term)
            if not m:
                raise PatternError(f"bad field condition {term!r}")
            name, operator, raw = m.groups()
            negate = raw.startswith("!") and operator == "="
            raw = raw[1:] if negate else raw
            if raw.startswith('"') and raw.endswith('"'):
                raw = _unescape(raw[1:-1])
                numeric = False
            else:
                numeric = bool(_NUMBER.match(raw))
            tests.append(_delimited_test(name, "!=" if negate else operator, raw, numeric))
        alternatives.append(tests)
    return lambda fields: any(all(t(fields) for t in tests) for tests in alternatives)


def _delimited_test(name: str, operator: str, raw: str, numeric: bool) -> Callable[[dict[str, str]], bool]:
    if numeric:
        number = float(raw)
        ops: dict[str, Callable[[float], bool]] = {
            "=": lambda v: v == number,
            "!=": lambda v: v != number,
            "<": lambda v: v < number,
            ">": lambda v: v > number,
            "<=": lambda v: v <= number,
            ">=": lambda v: v >= number,
        }

        def numeric_test(fields: dict[str, str]) -> bool:
            value = fields.get(name)
            return value is not None and bool(_NUMBER.match(value)) and ops[operator](float(value))

        return numeric_test
    if operator not in ("=", "!="):
        raise PatternError(f"{operator} needs a number, not {raw!r}")
    glob, want = _glob(raw), operator == "="
    return lambda fields: name in fields and bool(glob.fullmatch(fields[name])) is want
