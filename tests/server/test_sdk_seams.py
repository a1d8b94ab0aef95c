"""box-mcp builds on the MCP SDK's public seams only: nothing private of the SDK is overridden or called."""

from __future__ import annotations

import ast
from pathlib import Path

from mcp.server.lowlevel import Server

from box_mcp.server import BoxMCPServer

PACKAGE = Path(__file__).resolve().parents[2] / "box_mcp"


def test_the_server_overrides_no_private_method_of_the_sdks_server() -> None:
    own = {name for name in vars(BoxMCPServer) if name.startswith("_") and not name.startswith("__")}
    overridden = sorted(name for name in own if hasattr(Server, name))
    assert overridden == []


def test_no_module_imports_a_private_sdk_module_or_name() -> None:
    """`from mcp.x._y import ...` or `from mcp.x import _y` would tie box-mcp to SDK internals."""
    private = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module.split(".")[0] in ("mcp", "mcp_types"):
                names = [node.module, *(alias.name for alias in node.names)]
                if any(part.startswith("_") for name in names for part in name.split(".")):
                    private.append(f"{path.relative_to(PACKAGE.parent)}: from {node.module} import ...")
    assert private == []


def test_the_one_private_attribute_read_is_the_connection_of_a_session() -> None:
    """The SDK offers no public way to reach a request's Connection (its per-connection state and exit
    stack, which session records need); box_mcp/sessions.py reads `_connection` in one place, checked
    by type. Anything more is a regression."""
    reads = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "emulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "_connection":
                reads.append(path.name)
            if isinstance(node, ast.Attribute) and node.attr in (
                "_lowlevel_server",
                "_session_owners",
                "_connection",
                "_prompt_manager",
            ):
                reads.append(f"{path.name}:{node.attr}")
    assert reads == ["sessions.py"]
