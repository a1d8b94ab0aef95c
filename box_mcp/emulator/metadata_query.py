"""Box's metadata query language (`POST /metadata_queries/execute_read` `query`), parsed and evaluated
over one template's instances.

    expr       := term (OR term)*
    term       := factor (AND factor)*
    factor     := NOT factor | '(' expr ')' | comparison
    comparison := key (= | <> | < | > | <= | >=) :param
                | key [NOT] (LIKE | ILIKE) :param
                | key [NOT] IN '(' :param (',' :param)* ')'
                | key IS [NOT] NULL

Values come only from `query_params` (`:name`), as Box's guide writes every example; keywords are case
insensitive, field keys are the template's. A comparison with a missing value is unknown (SQL's three-valued
logic): NOT unknown stays unknown, and only a true query matches. `%` and `_` are LIKE's wildcards,
`\\` escapes them. Errors are Box's: 400 `bad_request`, or `unexpected_json_type` for a missing argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import BoxError, bad_request

# tokens: words, :params, operators, parentheses, commas
_TOKEN = re.compile(r"\s*(?:(<>|<=|>=|=|<|>)|(:[A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][-A-Za-z0-9_]*)|([(),]))")
KEYWORDS = frozenset({"AND", "OR", "NOT", "LIKE", "ILIKE", "IN", "IS", "NULL"})
COMPARISONS = ("=", "<>", "<", ">", "<=", ">=")

Value = bool | None  # three-valued: True, False, or unknown
Predicate = Callable[[dict[str, Any]], Value]


def _bad(message: str) -> BoxError:
    return bad_request(f"Invalid metadata query: {message}")


@dataclass(frozen=True)
class _Tok:
    kind: str  # op | param | word | punct
    text: str


def tokenize(query: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        m = _TOKEN.match(query, pos)
        if m is None:
            snippet = query[pos : pos + 20].strip()
            raise _bad(f"unexpected text at '{snippet}' (values go in query_params and are written :name)")
        op, param, word, punct = m.groups()
        if op:
            tokens.append(_Tok("op", op))
        elif param:
            tokens.append(_Tok("param", param[1:]))
        elif word:
            upper = word.upper()
            tokens.append(_Tok("kw", upper) if upper in KEYWORDS else _Tok("word", word))
        else:
            tokens.append(_Tok("punct", punct))
        pos = m.end()
    return tokens


def like_regex(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class _Parser:
    def __init__(self, tokens: list[_Tok], fields: dict[str, dict[str, Any]], params: dict[str, Any]) -> None:
        self.tokens, self.pos = tokens, 0
        self.fields, self.params = fields, params

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, kind: str, text: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or tok.kind != kind or (text is not None and tok.text != text):
            want = text or {"param": "a :param", "word": "a field key"}.get(kind, kind)
            got = "the end of the query" if tok is None else f"'{tok.text}'"
            raise _bad(f"expected {want}, found {got}")
        self.pos += 1
        return tok

    def at(self, kind: str, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == kind and tok.text == text

    def parse(self) -> Predicate:
        pred = self.expr()
        if self.peek() is not None:
            raise _bad(f"unexpected '{self.peek().text}'")  # type: ignore[union-attr]
        return pred

    def expr(self) -> Predicate:
        terms = [self.term()]
        while self.at("kw", "OR"):
            self.pos += 1
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else _combine(terms, True)

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.at("kw", "AND"):
            self.pos += 1
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else _combine(factors, False)

    def factor(self) -> Predicate:
        if self.at("kw", "NOT"):
            self.pos += 1
            inner = self.factor()
            return lambda data: None if (v := inner(data)) is None else not v
        if self.at("punct", "("):
            self.pos += 1
            inner = self.expr()
            self.take("punct", ")")
            return inner
        return self.comparison()

    def param(self) -> Any:
        name = self.take("param").text
        if name not in self.params:
            raise BoxError(
                400, "unexpected_json_type", f"Invalid metadata query: ':{name}' has no value in query_params"
            )
        return self.params[name]

    def comparison(self) -> Predicate:
        key = self.take("word").text
        field = self.fields.get(key)
        if field is None:
            raise _bad(f"'{key}' is not a field of the template")
        ftype = field["type"]
        if self.at("kw", "IS"):
            self.pos += 1
            negate = self.at("kw", "NOT")
            if negate:
                self.pos += 1
            self.take("kw", "NULL")
            return lambda data: (data.get(key) is not None) if negate else (data.get(key) is None)
        negate = self.at("kw", "NOT")
        if negate:
            self.pos += 1
        tok = self.peek()
        if tok is not None and tok.kind == "kw" and tok.text in ("LIKE", "ILIKE"):
            self.pos += 1
            if ftype not in ("string", "enum"):
                raise _bad(f"{tok.text} works on string fields; '{key}' is a {ftype} field")
            pattern = self.param()
            if not isinstance(pattern, str):
                raise _bad(f"the pattern for '{key}' must be a string")
            regex = like_regex(pattern, ignore_case=tok.text == "ILIKE")
            return _negated(negate, lambda data: _match(regex, data.get(key)))
        if tok is not None and tok.kind == "kw" and tok.text == "IN":
            self.pos += 1
            if ftype == "multiSelect":
                raise _bad(f"IN is not supported for multiSelect fields ('{key}')")
            self.take("punct", "(")
            values = [self.coerce(key, ftype, self.param())]
            while self.at("punct", ","):
                self.pos += 1
                values.append(self.coerce(key, ftype, self.param()))
            self.take("punct", ")")
            return _negated(negate, lambda data: _in(self.read(ftype, data.get(key)), values))
        if negate:
            raise _bad(f"NOT after '{key}' must be followed by LIKE, ILIKE or IN")
        op = self.take("op").text
        if ftype == "multiSelect":
            raise _bad(f"'{op}' is not supported for multiSelect fields ('{key}') by the emulator")
        expected = self.coerce(key, ftype, self.param())
        return lambda data: _compare(op, self.read(ftype, data.get(key)), expected)

    @staticmethod
    def read(ftype: str, value: Any) -> Any:
        if value is None:
            return None
        if ftype == "float":
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        if ftype == "date":
            return _date(value)
        return value if isinstance(value, str) else None

    @staticmethod
    def coerce(key: str, ftype: str, value: Any) -> Any:
        """A query argument as the field's type (Box: "must match the type of the template field")."""
        if ftype == "float":
            if isinstance(value, bool):
                raise _bad(f"the value for '{key}' must be a number")
            try:
                return float(value)
            except (TypeError, ValueError):
                raise _bad(f"the value for '{key}' must be a number") from None
        if ftype == "date":
            parsed = _date(value)
            if parsed is None:
                raise _bad(f"the value for '{key}' must be an ISO-8601 date-time with an offset")
            return parsed
        if not isinstance(value, str):
            raise _bad(f"the value for '{key}' must be a string")
        return value


def _combine(preds: list[Predicate], decisive: bool) -> Predicate:
    """OR (decisive True) or AND (decisive False) in three-valued logic: the decisive value wins, else any
    unknown makes the whole unknown."""

    def run(data: dict[str, Any]) -> Value:
        unknown = False
        for p in preds:
            v = p(data)
            if v is decisive:
                return decisive
            unknown = unknown or v is None
        return None if unknown else not decisive

    return run


def _negated(negate: bool, pred: Predicate) -> Predicate:
    if not negate:
        return pred
    return lambda data: None if (v := pred(data)) is None else not v


def _match(regex: re.Pattern[str], value: Any) -> Value:
    return None if not isinstance(value, str) else regex.fullmatch(value) is not None


def _in(value: Any, values: list[Any]) -> Value:
    return None if value is None else value in values


def _compare(op: str, left: Any, right: Any) -> Value:
    if left is None:
        return None
    match op:
        case "=":
            return bool(left == right)
        case "<>":
            return bool(left != right)
        case "<":
            return bool(left < right)
        case ">":
            return bool(left > right)
        case "<=":
            return bool(left <= right)
        case _:
            return bool(left >= right)


def compile_query(
    query: str | None, fields: list[dict[str, Any]], params: dict[str, Any]
) -> Callable[[dict[str, Any]], bool]:
    """The query as a test over an instance's data; no query matches every instance."""
    if query is None or not query.strip():
        return lambda data: True
    tokens = tokenize(query)
    pred = _Parser(tokens, {f["key"]: f for f in fields}, params).parse()
    return lambda data: pred(data) is True


def sort_key(ftype: str, value: Any) -> tuple[int, Any]:
    """Order-by key: values of the field's type first, missing values last (either direction)."""
    read = _Parser.read(ftype, value)
    return (1, 0) if read is None else (0, read)
