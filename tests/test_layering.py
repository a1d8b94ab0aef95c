"""Import rules the layout promises: one module reads the environment, and the emulator stands alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import box_mcp

PACKAGE = Path(box_mcp.__file__).parent
EMULATOR = PACKAGE / "emulator"
# What the emulator may import of box_mcp: itself, and the shared leaf that runs uvicorn on a socket.
EMULATOR_MAY_IMPORT = ("box_mcp.emulator", "box_mcp._serving")
ENV_READ = re.compile(r"\bos\.environ\b|\bgetenv\b|\benviron\b")


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """The absolute names of box_mcp modules `path` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
    return {name for name in names if name == "box_mcp" or name.startswith("box_mcp.")}


def _allowed(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_only_config_reads_the_environment_outside_the_emulator() -> None:
    hits = []
    for path in _modules(PACKAGE):
        if path == PACKAGE / "config.py" or EMULATOR in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ENV_READ.search(line):
                hits.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert hits == [], "read settings through box_mcp.config.Settings instead:\n" + "\n".join(hits)


def test_the_environment_check_would_see_a_read() -> None:
    assert ENV_READ.search('value = os.environ.get("BOX_MCP_X")')
    assert ENV_READ.search('value = os.getenv("BOX_MCP_X")')
    assert not ENV_READ.search("environment = 'staging'")


def test_the_emulator_imports_nothing_of_box_mcp_but_itself_and_the_serving_leaf() -> None:
    modules = _modules(EMULATOR)
    assert len(modules) > 20  # the walk found the package
    outside = {
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in modules
        for name in _imports(path)
        if not _allowed(name, EMULATOR_MAY_IMPORT)
    }
    assert outside == set()


def test_the_serving_leaf_imports_only_the_error_tree() -> None:
    assert _imports(PACKAGE / "_serving.py") == {"box_mcp.errors"}
    assert _imports(PACKAGE / "errors.py") == set()


def test_relative_imports_are_resolved_so_the_emulator_check_sees_them() -> None:
    imports = _imports(EMULATOR / "cli.py")
    assert "box_mcp.emulator.app" in imports and "box_mcp._serving" in imports
