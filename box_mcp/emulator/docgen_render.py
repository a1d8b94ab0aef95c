"""The emulator's Doc Gen engine: find a template's `{{tags}}` and fill them from a batch's `user_input`.

It does what Box's wire contract says, over text, and no more: a template is a UTF-8 text file or a
.docx (its paragraphs' text is read; formatting is not kept); the output is a real .docx or .pdf holding
the filled text, one paragraph (or PDF line) per line. Tags, in Box Doc Gen's syntax:

- `{{customer.name}}`: text, the value at that JSON path of the input;
- `{{price * quantity}}`: arithmetic (+ - * / over paths and numbers);
- `{{if status == "paid"}} ... {{else}} ... {{endif}}`: conditional (a path's truth, or a comparison);
- `{{for item in products}} ... {{endfor}}` and `{{tablerow item in products}} ... {{endtablerow}}`:
  loops over a list (inside, `item.name` is `products.name`).

A tag the input does not provide is an error of the job (the text is left empty); an input key the
template never uses is a warning: the two lists Box's job `failures` carries.
"""

from __future__ import annotations

import ast
import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

TAG = re.compile(r"\{\{(.{1,500}?)\}\}", re.DOTALL)
PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
LOOP = re.compile(r"(for|tablerow)\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\s+(" + PATH.pattern + r")")
COMPARE = re.compile(r"(" + PATH.pattern + r")\s*(==|!=|>=|<=|>|<)\s*(.+)")
ENDS = {"endfor": "for", "endtablerow": "tablerow", "endif": "if"}
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024
MAX_OUTPUT_CHARS = 2_000_000
MAX_LOOP_ITEMS = 10_000


class TemplateError(ValueError):
    """The template cannot be read or its tags do not nest; the message says which and where."""


# -- reading a template ----------------------------------------------------------------------------
def template_text(name: str, data: bytes) -> str:
    """The text a template holds: a .docx's paragraphs, or the file itself as UTF-8."""
    if len(data) > MAX_TEMPLATE_BYTES:
        raise TemplateError("The template is larger than the emulator's 5 MB Doc Gen limit")
    if name.lower().endswith(".docx"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                xml = zf.read("word/document.xml")
        except (zipfile.BadZipFile, KeyError):
            raise TemplateError("The .docx template has no word/document.xml") from None
        if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
            raise TemplateError("The .docx template declares a DTD or entities; they are refused")
        try:
            root = ElementTree.fromstring(xml)  # noqa: S314 - no DTD/entities (checked above)
        except ElementTree.ParseError:
            raise TemplateError("The .docx template's document.xml is not well-formed XML") from None
        return "\n".join("".join(t.text or "" for t in p.iter(f"{W}t")) for p in root.iter(f"{W}p"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TemplateError(
            "The emulator's Doc Gen reads .docx templates and UTF-8 text templates; this file is neither"
        ) from None


# -- tags ------------------------------------------------------------------------------------------
@dataclass
class Tag:
    content: str  # as written, with the braces
    kind: str  # text | arithmetic | conditional | for-loop | table-loop | end | else
    expr: str  # the inside, trimmed
    paths: list[str] = field(default_factory=list)  # JSON paths it reads, loop variables resolved


def _classify(expr: str) -> tuple[str, str]:
    word = expr.split(None, 1)[0] if expr.split() else ""
    if word in ENDS:
        return "end", word
    if word == "else":
        return "else", word
    if word in ("for", "tablerow"):
        return ("for-loop" if word == "for" else "table-loop"), word
    if word == "if":
        return "conditional", word
    if PATH.fullmatch(expr):
        return "text", ""
    return "arithmetic", ""


def _prefixes(path: str) -> list[str]:
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _resolve(path: str, loops: dict[str, str]) -> str:
    head, _, rest = path.partition(".")
    if head in loops:
        return loops[head] + ("." + rest if rest else "")
    return path


def tags(text: str) -> list[Tag]:
    """Every tag of the template in order (end/else markers left out), with the paths each reads."""
    found: list[Tag] = []
    loops: list[tuple[str, str]] = []
    for match in TAG.finditer(text):
        expr = " ".join(match.group(1).split())
        kind, word = _classify(expr)
        if kind == "end":
            if word != "endif" and loops:
                loops.pop()
            continue
        if kind == "else":
            continue
        scope = dict(loops)
        tag = Tag(match.group(0), kind, expr)
        if kind in ("for-loop", "table-loop"):
            loop = LOOP.fullmatch(expr)
            if loop:
                source = _resolve(loop.group(3), scope)
                tag.paths = _prefixes(source)
                loops.append((loop.group(2), source))
        else:
            body = expr[2:].strip() if kind == "conditional" else expr
            names = PATH.findall(re.sub(r"\"[^\"]*\"|'[^']*'", "", body))
            for name in names:
                if name in ("and", "or", "not", "true", "false", "True", "False"):
                    continue
                for prefix in _prefixes(_resolve(name, scope)):
                    if prefix not in tag.paths:
                        tag.paths.append(prefix)
        found.append(tag)
    return found


# -- filling ---------------------------------------------------------------------------------------
_MISSING = object()


@dataclass
class Result:
    text: str
    errors: list[str]
    warnings: list[str]


def _lookup(path: str, scopes: list[dict[str, Any]]) -> Any:
    head, *rest = path.split(".")
    for scope in reversed(scopes):
        if head in scope:
            value = scope[head]
            break
    else:
        return _MISSING
    for part in rest:
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _literal(raw: str) -> Any:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    try:
        return float(raw)
    except ValueError:
        return _MISSING


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Filler:
    def __init__(self, user_input: dict[str, Any]) -> None:
        self.input = user_input
        self.errors: list[str] = []
        self.used: set[str] = set()
        self.size = 0

    def missing(self, path: str) -> None:
        message = f"The tag '{path}' was not provided in the input data."
        if message not in self.errors:
            self.errors.append(message)

    def value(self, path: str, scopes: list[dict[str, Any]], loops: dict[str, str]) -> Any:
        self.used.add(_resolve(path, loops).split(".")[0])
        found = _lookup(path, scopes)
        if found is _MISSING:
            self.missing(_resolve(path, loops))
        return found

    def arithmetic(self, expr: str, scopes: list[dict[str, Any]], loops: dict[str, str]) -> str:
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError:
            self.errors.append(f"The tag '{{{{{expr}}}}}' is not a valid expression.")
            return ""

        def walk(node: ast.AST) -> float:
            if isinstance(node, ast.Expression):
                return walk(node.body)
            if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
                return float(node.value)
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                return -walk(node.operand)
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
                left, right = walk(node.left), walk(node.right)
                if isinstance(node.op, ast.Add):
                    return left + right
                if isinstance(node.op, ast.Sub):
                    return left - right
                if isinstance(node.op, ast.Mult):
                    return left * right
                if right == 0:
                    raise ArithmeticError("division by zero")
                return left / right
            if isinstance(node, ast.Name | ast.Attribute):
                value = self.value(ast.unparse(node), scopes, loops)
                if value is _MISSING:
                    raise LookupError
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise TypeError(f"'{ast.unparse(node)}' is not a number")
                return float(value)
            raise TypeError(f"'{ast.unparse(node)}' is not supported (only + - * / of paths and numbers)")

        try:
            return _text(walk(tree))
        except LookupError:
            return ""
        except (TypeError, ArithmeticError) as exc:
            self.errors.append(f"The tag '{{{{{expr}}}}}' could not be computed: {exc}.")
            return ""

    def condition(self, expr: str, scopes: list[dict[str, Any]], loops: dict[str, str]) -> bool:
        body = expr[2:].strip()
        compare = COMPARE.fullmatch(body)
        if compare is None:
            negate = body.startswith("not ")
            path = body[4:].strip() if negate else body
            if not PATH.fullmatch(path):
                self.errors.append(f"The condition '{{{{{expr}}}}}' is not supported.")
                return False
            value = self.value(path, scopes, loops)
            truth = value is not _MISSING and bool(value)
            return not truth if negate else truth
        left = self.value(compare.group(1), scopes, loops)
        right = _literal(compare.group(3))
        if left is _MISSING or right is _MISSING:
            if right is _MISSING:
                self.errors.append(f"The condition '{{{{{expr}}}}}' compares with an unsupported value.")
            return False
        op = compare.group(2)
        try:
            if op == "==":
                return bool(left == right)
            if op == "!=":
                return bool(left != right)
            if op == ">":
                return bool(left > right)
            if op == "<":
                return bool(left < right)
            if op == ">=":
                return bool(left >= right)
            return bool(left <= right)
        except TypeError:
            self.errors.append(f"The condition '{{{{{expr}}}}}' compares values of different types.")
            return False


def _parse(text: str) -> list[Any]:
    """Literal strings and tag nodes, blocks nested:
    ("tag", kind, expr) and ("block", kind, expr, body, else_body)."""
    root: list[Any] = []
    stack: list[
        tuple[str, str, list[Any], list[Any] | None, list[Any]]
    ] = []  # kind, expr, body, else, parent
    current = root
    pos = 0
    for match in TAG.finditer(text):
        current.append(text[pos : match.start()])
        pos = match.end()
        expr = " ".join(match.group(1).split())
        kind, word = _classify(expr)
        if kind in ("for-loop", "table-loop", "conditional"):
            if kind != "conditional" and LOOP.fullmatch(expr) is None:
                raise TemplateError(f"The loop tag '{match.group(0)}' must read 'for <name> in <path>'")
            body: list[Any] = []
            stack.append((kind, expr, body, None, current))
            current = body
        elif kind == "else":
            if not stack or stack[-1][0] != "conditional" or stack[-1][3] is not None:
                raise TemplateError("'{{else}}' without an open '{{if ...}}'")
            k, e, b, _, parent = stack.pop()
            other: list[Any] = []
            stack.append((k, e, b, other, parent))
            current = other
        elif kind == "end":
            wanted = {"for": "for-loop", "tablerow": "table-loop", "if": "conditional"}[ENDS[word]]
            if not stack or stack[-1][0] != wanted:
                raise TemplateError(f"'{match.group(0)}' does not close an open block")
            k, e, b, other_part, parent = stack.pop()
            parent.append(("block", k, e, b, other_part or []))
            current = parent
        else:
            current.append(("tag", kind, expr))
    if stack:
        raise TemplateError(f"The block '{{{{{stack[-1][1]}}}}}' is never closed")
    current.append(text[pos:])
    return root


def fill(text: str, user_input: dict[str, Any]) -> Result:
    """The template filled from one input (TemplateError if its tags do not nest)."""
    tree = _parse(text)
    filler = _Filler(user_input)
    out: list[str] = []

    def emit(piece: str) -> None:
        filler.size += len(piece)
        if filler.size > MAX_OUTPUT_CHARS:
            raise TemplateError(
                "The generated document would exceed the emulator's 2,000,000-character limit"
            )
        out.append(piece)

    def render(nodes: list[Any], scopes: list[dict[str, Any]], loops: dict[str, str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                emit(node)
            elif node[0] == "tag":
                _, kind, expr = node
                if kind == "text":
                    value = filler.value(expr, scopes, loops)
                    emit("" if value is _MISSING else _text(value))
                else:
                    emit(filler.arithmetic(expr, scopes, loops))
            elif node[1] == "conditional":
                _, _, expr, body, other = node
                render(body if filler.condition(expr, scopes, loops) else other, scopes, loops)
            else:
                _, _, expr, body, _ = node
                loop = LOOP.fullmatch(expr)
                assert loop is not None  # checked by _parse
                name, source = loop.group(2), loop.group(3)
                values = filler.value(source, scopes, loops)
                if values is _MISSING:
                    continue
                if not isinstance(values, list):
                    filler.errors.append(f"The loop '{{{{{expr}}}}}' needs a list at '{source}'.")
                    continue
                inner = {**loops, name: _resolve(source, loops)}
                for value in values[:MAX_LOOP_ITEMS]:
                    render(body, [*scopes, {name: value}], inner)

    render(tree, [user_input], {})
    warnings = [
        f"The tag '{key}' was provided but not used in the template."
        for key in user_input
        if key not in filler.used
    ]
    return Result("".join(out), filler.errors, warnings)


# -- writing the output ----------------------------------------------------------------------------
def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def docx_bytes(text: str) -> bytes:
    """A minimal valid .docx: one paragraph per line of `text`."""
    paragraphs = "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{_xml_escape(line)}</w:t></w:r></w:p>'
        for line in text.split("\n")
    )
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
        'org/package/2006/content-types"><Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/><Override '
        'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
        'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
        f'openxmlformats.org/wordprocessingml/2006/main"><w:body>{paragraphs}</w:body></w:document>',
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _pdf_string(line: str) -> str:
    safe = line.encode("latin-1", "replace").decode("latin-1")
    return "(" + safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def pdf_bytes(text: str) -> bytes:
    """A minimal PDF: the text as lines on pages of 50 lines (Latin-1; other characters become '?')."""
    lines = text.split("\n") or [""]
    pages = [lines[i : i + 50] for i in range(0, len(lines), 50)] or [[""]]
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: pages (filled below)
    kids = []
    font_id = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page in pages:
        stream = "BT /F1 11 Tf 72 760 Td 14 TL " + " ".join(f"{_pdf_string(line)} '" for line in page) + " ET"
        content_id = len(objects) + 1
        objects.append(
            f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream".encode("latin-1")
        )
        page_id = len(objects) + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        kids.append(f"{page_id} 0 R")
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


OUTPUTS = {"docx": docx_bytes, "pdf": pdf_bytes}
