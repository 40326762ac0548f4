"""CloudWatch metric math ("Using metric math"), for alarms on expressions and GetMetricData.

A time series is a ``dict`` of period start (epoch seconds) -> value; missing timestamps are
absent keys. The rules are AWS's: arithmetic and comparisons between two series run over the
union of their timestamps with a missing value taken as 0, a division by zero drops the point;
``IF`` follows the per-syntax table of the documentation; ``FILL`` fills every period of the
query's range. Supported: ``+ - * / ^``, unary ``-``, ``== != < <= > >=``, ``AND``/``&&``,
``OR``/``||``, ``IF``, ``FILL`` (value, series, ``REPEAT``, ``LINEAR``), ``ABS``, ``CEIL``,
``FLOOR``, ``LOG``, ``LOG10``, ``SUM``/``AVG``/``MIN``/``MAX``/``STDDEV`` (of a series: a scalar;
of an array: a series), ``METRICS()``, ``PERIOD``, ``DIFF``, ``RATE``, ``TIME_SERIES``,
``DATAPOINT_COUNT``, ``FIRST``/``LAST``, and ``[a, b]`` arrays.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

TimeSeries = dict[int, float]
Value = Union[float, TimeSeries, list[TimeSeries]]  # noqa: UP007 - a recursive-free alias, clearer this way


class ExpressionError(ValueError):
    """The expression cannot be parsed or evaluated (AWS: ValidationError)."""


@dataclass
class Context:
    """What an expression sees: the metric queries' series, their periods, the range's periods."""

    series: dict[str, TimeSeries]
    grid: list[int]
    periods: dict[str, int] = field(default_factory=dict)
    metric_ids: list[str] = field(default_factory=list)


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
      | (?P<string>"[^"]*"|“[^”]*”)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/^()<>\[\],])
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExpressionError(f"unexpected {text[pos:]!r}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "name" and value in ("AND", "OR"):
            kind, value = "op", {"AND": "&&", "OR": "||"}[value]
        tokens.append((kind, value))
        pos = m.end()
    return tokens


# Binding powers, lowest first.
_BINARY = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 3,
    "<=": 3,
    ">": 3,
    ">=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "^": 7,
}

Node = tuple[Any, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            raise ExpressionError(f"expected {expected or 'more'}, got {token[1] if token else 'the end'}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expression(0)
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expression(self, min_power: int) -> Node:
        left = self.prefix()
        while True:
            token = self.peek()
            if token is None or token[0] != "op" or token[1] not in _BINARY:
                return left
            power = _BINARY[token[1]]
            if power <= min_power:
                return left
            self.take()
            # ^ is right-associative; the others left-associative.
            right = self.expression(power - 1 if token[1] == "^" else power)
            left = ("binary", token[1], left, right)

    def prefix(self) -> Node:
        kind, text = self.take()
        if kind == "number":
            return ("number", float(text))
        if kind == "string":
            return ("string", text[1:-1])
        if (kind, text) == ("op", "-"):
            return ("negate", self.expression(6))
        if (kind, text) == ("op", "("):
            inner = self.expression(0)
            self.take(")")
            return inner
        if (kind, text) == ("op", "["):
            items = [self.expression(0)]
            while self.peek() == ("op", ","):
                self.take()
                items.append(self.expression(0))
            self.take("]")
            return ("array", items)
        if kind == "name":
            if self.peek() == ("op", "("):
                self.take()
                args: list[Node] = []
                if self.peek() != ("op", ")"):
                    args.append(self.expression(0))
                    while self.peek() == ("op", ","):
                        self.take()
                        args.append(self.expression(0))
                self.take(")")
                return ("call", text, args)
            if text in ("REPEAT", "LINEAR"):
                return ("keyword", text)
            if not text[0].islower():
                raise ExpressionError(f"{text}: metric and expression ids start with a lower-case letter")
            return ("id", text)
        raise ExpressionError(f"unexpected {text!r}")


def parse(expression: str) -> Node:
    return _Parser(expression).parse()


def references(expression: str) -> set[str]:
    """The ids an expression reads (to order expressions that use other expressions)."""

    def walk(node: Node) -> set[str]:
        kind = node[0]
        if kind == "id":
            return {node[1]}
        if kind == "binary":
            return walk(node[2]) | walk(node[3])
        if kind == "negate":
            return walk(node[1])
        if kind == "array":
            return set().union(*(walk(n) for n in node[1]))
        if kind == "call":
            return set().union(set(), *(walk(n) for n in node[2]))
        return set()

    return walk(parse(expression))


def evaluate(expression: str, context: Context) -> Value:
    return _Evaluator(context).eval(parse(expression))


def _is_series(value: Any) -> bool:
    return isinstance(value, dict)


_ARITH: dict[str, Callable[[float, float], float | None]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: None if b == 0 else a / b,
    "^": lambda a, b: _power(a, b),
    "==": lambda a, b: float(a == b),
    "!=": lambda a, b: float(a != b),
    "<": lambda a, b: float(a < b),
    "<=": lambda a, b: float(a <= b),
    ">": lambda a, b: float(a > b),
    ">=": lambda a, b: float(a >= b),
    "&&": lambda a, b: float(bool(a) and bool(b)),
    "||": lambda a, b: float(bool(a) or bool(b)),
}


def _power(a: float, b: float) -> float | None:
    try:
        result = a**b
    except (OverflowError, ZeroDivisionError):
        return None
    return None if isinstance(result, complex) else float(result)


class _Evaluator:
    def __init__(self, context: Context) -> None:
        self.context = context

    def eval(self, node: Node) -> Any:
        kind = node[0]
        if kind == "number":
            return node[1]
        if kind == "string":
            return node[1]
        if kind == "keyword":
            return node[1]
        if kind == "id":
            if node[1] not in self.context.series:
                raise ExpressionError(f"unknown id {node[1]!r}")
            return self.context.series[node[1]]
        if kind == "negate":
            return self.map(self.eval(node[1]), lambda v: -v)
        if kind == "array":
            items: list[TimeSeries] = []
            for element in (self.eval(n) for n in node[1]):
                if isinstance(element, list):
                    items.extend(element)
                elif _is_series(element):
                    items.append(element)
                else:
                    raise ExpressionError("an array holds time series")
            return items
        if kind == "binary":
            return self.binary(node[1], self.eval(node[2]), self.eval(node[3]))
        if kind == "call":
            return self.call(node[1], node[2])
        raise ExpressionError(f"cannot evaluate {node!r}")

    @staticmethod
    def map(value: Any, fn: Callable[[float], float | None]) -> Any:
        if isinstance(value, list):
            return [_Evaluator.map(v, fn) for v in value]
        if _is_series(value):
            out = {}
            for t, v in value.items():
                r = fn(v)
                if r is not None and not math.isnan(r):
                    out[t] = r
            return out
        if isinstance(value, float | int):
            r = fn(float(value))
            if r is None:
                raise ExpressionError("the scalar expression has no value (division by zero?)")
            return r
        raise ExpressionError(f"not a number or time series: {value!r}")

    def binary(self, op: str, left: Any, right: Any) -> Any:
        fn = _ARITH[op]
        if isinstance(left, list) or isinstance(right, list):
            if isinstance(left, list) and isinstance(right, list):
                raise ExpressionError("an operation between two arrays of time series")
            if isinstance(left, list):
                return [self.binary(op, item, right) for item in left]
            return [self.binary(op, left, item) for item in right]
        if _is_series(left) and _is_series(right):
            out: TimeSeries = {}
            for t in sorted(left.keys() | right.keys()):
                r = fn(left.get(t, 0.0), right.get(t, 0.0))
                if r is not None:
                    out[t] = r
            return out
        if _is_series(left):
            return self.map(left, lambda v: fn(v, float(right)))
        if _is_series(right):
            return self.map(right, lambda v: fn(float(left), v))
        result = fn(float(left), float(right))
        if result is None:
            raise ExpressionError("division by zero in a scalar expression")
        return result

    def call(self, name: str, arg_nodes: Sequence[Node]) -> Any:
        if name == "IF":
            return self.if_(arg_nodes)
        if name == "METRICS":
            needle = self.eval(arg_nodes[0]) if arg_nodes else ""
            return [self.context.series[i] for i in self.context.metric_ids if needle in i]
        if name == "PERIOD":
            if not arg_nodes or arg_nodes[0][0] != "id" or arg_nodes[0][1] not in self.context.periods:
                raise ExpressionError("PERIOD takes a metric id")
            return float(self.context.periods[arg_nodes[0][1]])
        args = [self.eval(n) for n in arg_nodes]
        if name == "FILL":
            return self.fill(*args)
        if name in ("ABS", "CEIL", "FLOOR", "LOG", "LOG10"):
            fn: Callable[[float], float | None] = {
                "ABS": abs,
                "CEIL": lambda v: float(math.ceil(v)),
                "FLOOR": lambda v: float(math.floor(v)),
                "LOG": lambda v: math.log(v) if v > 0 else None,
                "LOG10": lambda v: math.log10(v) if v > 0 else None,
            }[name]
            return self.map(self.one(name, args), fn)
        if name in ("SUM", "AVG", "MIN", "MAX", "STDDEV", "DATAPOINT_COUNT"):
            return self.aggregate(name, self.one(name, args))
        if name in ("DIFF", "RATE"):
            return self.per_series(self.one(name, args), lambda s: _diff(s, rate=name == "RATE"))
        if name == "TIME_SERIES":
            return dict.fromkeys(self.context.grid, float(args[0]))
        if name in ("FIRST", "LAST"):
            array = self.one(name, args)
            if not isinstance(array, list) or not array:
                raise ExpressionError(f"{name} takes a non-empty array of time series")
            return array[0] if name == "FIRST" else array[-1]
        raise ExpressionError(f"function {name} is not supported by the emulator")

    @staticmethod
    def one(name: str, args: list[Any]) -> Any:
        if len(args) != 1:
            raise ExpressionError(f"{name} takes one argument")
        return args[0]

    @staticmethod
    def per_series(value: Any, fn: Callable[[TimeSeries], TimeSeries]) -> Any:
        if isinstance(value, list):
            return [fn(v) for v in value]
        if _is_series(value):
            return fn(value)
        raise ExpressionError("a time series is needed")

    @staticmethod
    def aggregate(name: str, value: Any) -> Any:
        def reduce(values: list[float]) -> float | None:
            if name == "DATAPOINT_COUNT":
                return float(len(values))
            if not values:
                return None
            if name == "SUM":
                return float(sum(values))
            if name == "AVG":
                return float(sum(values) / len(values))
            if name == "MIN":
                return float(min(values))
            if name == "MAX":
                return float(max(values))
            return float(statistics.pstdev(values))

        if _is_series(value):
            result = reduce(list(value.values()))
            if result is None:
                raise ExpressionError(f"{name} of a time series with no data")
            return result
        if isinstance(value, list):
            out: TimeSeries = {}
            for t in sorted(set().union(*(s.keys() for s in value))) if value else []:
                if name in ("SUM", "AVG"):
                    # "Missing values are treated as 0."
                    values = [s.get(t, 0.0) for s in value]
                else:
                    values = [s[t] for s in value if t in s]
                r = reduce(values)
                if r is not None:
                    out[t] = r
            return out
        raise ExpressionError(f"{name} takes a time series or an array")

    def fill(self, series: Any, filler: Any = 0.0) -> Any:
        if isinstance(series, list):
            return [self.fill(s, filler) for s in series]
        if not _is_series(series):
            raise ExpressionError("FILL takes a time series")
        grid = sorted(set(self.context.grid) | series.keys())
        out: TimeSeries = {}
        known = sorted(series)
        for t in grid:
            if t in series:
                out[t] = series[t]
            elif filler == "REPEAT":
                earlier = [k for k in known if k < t]
                if earlier:
                    out[t] = series[earlier[-1]]
            elif filler == "LINEAR":
                before = [k for k in known if k < t]
                after = [k for k in known if k > t]
                if before and after:
                    t0, t1 = before[-1], after[0]
                    out[t] = series[t0] + (series[t1] - series[t0]) * (t - t0) / (t1 - t0)
            elif _is_series(filler):
                if t in filler:
                    out[t] = filler[t]
            else:
                out[t] = float(filler)
        return out

    def if_(self, arg_nodes: Sequence[Node]) -> Any:
        if len(arg_nodes) not in (2, 3):
            raise ExpressionError("IF takes a condition, a value, and an optional value")
        condition = self.eval(arg_nodes[0])
        when_true = self.eval(arg_nodes[1])
        when_false = self.eval(arg_nodes[2]) if len(arg_nodes) == 3 else None
        if isinstance(condition, float | int):
            chosen = when_true if condition else when_false
            return chosen if chosen is not None else {}
        if not _is_series(condition):
            raise ExpressionError("IF's condition is a time series or a scalar")
        out: TimeSeries = {}
        for t, flag in condition.items():
            if flag:
                if _is_series(when_true):
                    out[t] = when_true.get(t, 0.0)
                else:
                    out[t] = float(when_true)
            elif when_false is None:
                continue
            elif _is_series(when_false):
                if t in when_false:
                    out[t] = when_false[t]
            else:
                out[t] = float(when_false)
        return out


def _diff(series: TimeSeries, *, rate: bool) -> TimeSeries:
    out: TimeSeries = {}
    previous: tuple[int, float] | None = None
    for t in sorted(series):
        if previous is not None:
            delta = series[t] - previous[1]
            out[t] = delta / (t - previous[0]) if rate else delta
        previous = (t, series[t])
    return out
