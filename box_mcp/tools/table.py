"""The README's tool table, generated from the catalog: `python -m box_mcp.tools.table --write`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from box_mcp.tools.catalog import CATALOG
from box_mcp.tools.spec import ToolSpec

START, END = "<!-- tools:start -->", "<!-- tools:end -->"


def _hints(spec: ToolSpec) -> str:
    h = spec.hints
    marks = ["read-only" if h.read_only else "writes"]
    if h.destructive:
        marks.append("destructive")
    if h.idempotent:
        marks.append("idempotent")
    return ", ".join(marks)


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return (head + "." if dot else head).replace("|", "\\|")


def render(specs: Sequence[ToolSpec] = CATALOG) -> str:
    toolsets = len({s.toolset for s in specs})
    intro = (
        f"{len(specs)} tools in {toolsets} toolsets. Choose with `--toolsets`, `--tools`, `--exclude-tools`; "
        "`--read-only` keeps only read tools and wins over everything. Generated from the catalog "
        "(`python -m box_mcp.tools.table --write`); a test keeps it in sync."
    )
    rows = [
        intro,
        "",
        "| tool | toolset | access | annotations | what it does |",
        "|---|---|---|---|---|",
    ]
    for spec in specs:
        rows.append(
            f"| `{spec.name}` | {spec.toolset} | {spec.access.value} | {_hints(spec)} | "
            f"{_first_sentence(spec.description)} |"
        )
    return "\n".join(rows)


def splice(readme: str, table: str) -> str:
    """README text with the block between the markers replaced by `table`."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {START} ... {END} block")
    return readme[: start + len(START)] + "\n" + table + "\n" + readme[end:]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    readme = Path(args[args.index("--readme") + 1]) if "--readme" in args else Path("README.md")
    if "--write" in args:
        readme.write_text(splice(readme.read_text(encoding="utf-8"), render()), encoding="utf-8")
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
