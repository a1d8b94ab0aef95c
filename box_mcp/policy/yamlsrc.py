"""Safe YAML reading for policy files: plain data plus the line of every value, no aliases, bounded size.

Policy files are written by people and read by a security component, so the reader refuses what a
person rarely means and an attacker often does: anchors and aliases (alias bombs, shared mutable nodes),
duplicate keys (the later one silently wins in plain YAML), oversized files and deep nesting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from box_mcp.errors import PolicyError

MAX_FILE_BYTES = 1_000_000  # a thousand-rule policy is ~150 kB; anything far beyond is a mistake
MAX_DEPTH = 24  # the schema nests 5 deep; deeper input is rejected before it can exhaust the stack

Loc = tuple[str | int, ...]


@dataclass
class Located:
    """A parsed document and the line (1-based) of every mapping key and sequence item in it."""

    path: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def where(self, loc: Loc) -> str:
        """`file:line` of the deepest known location on `loc`."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return f"{self.path}:{line}"
        return self.path


# libyaml when present (about 5x faster on a 1,000-rule file), else the pure-Python loader.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader with policy-file booleans (see below)."""


# YAML 1.1 reads yes/no/on/off as booleans (so a rule id `off` or an extension `no` would change type);
# policy files only ever mean true/false, so only those stay booleans.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _prescan(text: str, path: str) -> None:
    """Walk the event stream lazily: refuse aliases and deep nesting before anything is built."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else 0
            raise PolicyError(
                f"{path}:{line}: YAML aliases (*{event.anchor}) are not allowed in policy files; "
                "write the value out in full"
            )
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise PolicyError(f"{path}:{line}: nesting is deeper than {MAX_DEPTH} levels")
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def load_text(text: str, path: str) -> Located:
    """Parse one YAML document held in `text` (named `path` in errors)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise PolicyError(f"{path}: file is larger than {MAX_FILE_BYTES} bytes; split it or trim it")
    loader: Any = None
    try:
        _prescan(text, path)
        loader = _Loader(text)
        node = loader.get_single_node()
    except PolicyError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = exc.problem or exc.context or "invalid YAML"
        raise PolicyError(f"{path}:{line}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: YAML error: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    located = Located(path=path, data=None)
    if node is None:
        located.data = {}
        return located
    located.data = _convert(loader, node, (), located, 0)
    return located


def load_file(path: Path) -> Located:
    """Read and parse a policy file, refusing oversized files before reading them whole."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PolicyError(f"{path}: file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return load_text(text, str(path))


def _convert(loader: _Loader, node: Node, loc: Loc, out: Located, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise PolicyError(f"{out.path}:{node.start_mark.line + 1}: nesting is deeper than {MAX_DEPTH} levels")
    if isinstance(node, MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise PolicyError(
                    f"{out.path}:{key_node.start_mark.line + 1}: mapping keys must be plain words"
                )
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise PolicyError(
                    f"{out.path}:{key_node.start_mark.line + 1}: YAML merge keys (<<) are not allowed"
                )
            key = loader.construct_object(key_node)
            if not isinstance(key, str | int):
                key = str(key)
            if key in result:
                raise PolicyError(f"{out.path}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            child = (*loc, key)
            out.lines[child] = key_node.start_mark.line + 1
            result[key] = _convert(loader, value_node, child, out, depth + 1)
        return result
    if isinstance(node, SequenceNode):
        items = []
        for i, item_node in enumerate(node.value):
            child = (*loc, i)
            out.lines[child] = item_node.start_mark.line + 1
            items.append(_convert(loader, item_node, child, out, depth + 1))
        return items
    return loader.construct_object(node, deep=True)
