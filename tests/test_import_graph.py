"""The import graph runs one way: cli -> deployment -> server/http -> gate -> policy/broker/audit/tools ->
box, and the emulator imports nothing of the rest. Every import counts, function-local ones too; only
imports under `if TYPE_CHECKING:` (annotations) are left out."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "box_mcp"

# layer of a module (by dotted-name prefix, longest first) -> the layers it may not import
CLI = (
    "box_mcp.cli",
    "box_mcp.server_cli",
    "box_mcp.demo",
    "box_mcp.__main__",
    "box_mcp.policy.cli",
    "box_mcp.audit.cli",
    "box_mcp.broker.cli",
    "box_mcp.emulator.cli",
    "box_mcp.approvals_cli",
    "box_mcp.sandbox_cli",
    "box_mcp.webhooks_cli",
)
ABOVE_GATE = ("box_mcp.deployment", "box_mcp.server", "box_mcp.http", "box_mcp.approvals", *CLI)
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("box_mcp.deployment", CLI),
    # sandbox: a library the CLI and a console call; it works below the server (broker, box, policy files)
    ("box_mcp.sandbox", ("box_mcp.deployment", "box_mcp.server", "box_mcp.http", "box_mcp.gate", *CLI)),
    ("box_mcp.http", ("box_mcp.deployment", "box_mcp.console", "box_mcp.watch", *CLI)),
    # watch: the webhook receiver and events follower publish on box_mcp.changes; the deployment wires them
    ("box_mcp.watch", ("box_mcp.deployment", "box_mcp.server", "box_mcp.http", "box_mcp.gate", *CLI)),
    # the web console reads the policy, audit, vault and approval stores; the deployment mounts it
    ("box_mcp.console", ("box_mcp.deployment", "box_mcp.server", "box_mcp.gate", *CLI)),
    ("box_mcp.server", ("box_mcp.deployment", "box_mcp.http", *CLI)),
    ("box_mcp.gate", ABOVE_GATE),
    ("box_mcp.seams", ("box_mcp.gate", "box_mcp.policy", "box_mcp.broker", "box_mcp.audit", *ABOVE_GATE)),
    ("box_mcp.policy", ("box_mcp.gate", "box_mcp.seams", "box_mcp.broker", "box_mcp.audit", *ABOVE_GATE)),
    ("box_mcp.broker", ("box_mcp.gate", "box_mcp.seams", "box_mcp.policy", "box_mcp.audit", *ABOVE_GATE)),
    (
        "box_mcp.audit",
        ("box_mcp.gate", "box_mcp.seams", "box_mcp.policy", "box_mcp.broker", "box_mcp.state", *ABOVE_GATE),
    ),
    # state: the PostgreSQL implementations of the stores audit, policy, broker and remote define (their
    # records and protocols are what it stores), picked by the composition root.
    ("box_mcp.state", ("box_mcp.gate", "box_mcp.seams", "box_mcp.tools", *ABOVE_GATE)),
    (
        "box_mcp.tools",
        ("box_mcp.gate", "box_mcp.seams", "box_mcp.policy", "box_mcp.broker", "box_mcp.audit", *ABOVE_GATE),
    ),
    (
        "box_mcp.box",
        (
            "box_mcp.gate",
            "box_mcp.seams",
            "box_mcp.policy",
            "box_mcp.broker",
            "box_mcp.audit",
            "box_mcp.tools",
            *ABOVE_GATE,
        ),
    ),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path) -> set[str]:
    """Every box_mcp module `path` imports when it runs (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name == "box_mcp" or name.startswith("box_mcp.")}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _rule_for(module: str) -> tuple[str, ...] | None:
    if any(_within(module, c) for c in CLI):
        return None  # the command line may import anything
    for prefix, banned in RULES:
        if _within(module, prefix):
            return banned
    return None


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    module = _module_name(path)
    banned = _rule_for(module)
    if banned is None:
        return
    upward = sorted(name for name in runtime_imports(path) if any(_within(name, b) for b in banned))
    assert upward == [], f"{module} imports {upward}, a layer above it (see this file's docstring)"


def test_the_emulator_imports_nothing_of_box_mcp_outside_itself() -> None:
    outside = {}
    for path in sorted((PACKAGE / "emulator").rglob("*.py")):
        names = {
            n
            for n in runtime_imports(path)
            if not _within(n, "box_mcp.emulator") and not _within(n, "box_mcp._serving")
        }
        if names:
            outside[_module_name(path)] = sorted(names)
    assert outside == {}


def test_the_checker_sees_function_local_imports_and_skips_type_checking_ones(tmp_path: Path) -> None:
    probe = PACKAGE / "policy" / "__probe_for_import_graph_test.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from box_mcp.gate import Call\n"
        "def f():\n    from box_mcp.server import NAME\n    from . import engine\n"
    )
    try:
        assert runtime_imports(probe) == {
            "box_mcp.server",
            "box_mcp.server.NAME",
            "box_mcp.policy",
            "box_mcp.policy.engine",
        }
    finally:
        probe.unlink()
