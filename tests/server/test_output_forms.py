"""ToolOutput.text_and_structured (the gate's one dump of a result) gives exactly text() and the
structured content the two separate dumps gave."""

from __future__ import annotations

import pytest

from box_mcp.tools.content import FileContent
from box_mcp.tools.models import FileDetails
from box_mcp.tools.spec import ToolOutput


class Measured(ToolOutput):
    value: float | None = None
    values: list[float] = []
    label: str | None = None


CASES: list[ToolOutput] = [
    FileDetails.model_validate(
        {
            "id": "1",
            "name": "Q3 plán\u2028\x00.docx",
            "size": 5,
            "parent": {"type": "folder", "id": "0", "name": "Ünï </script>"},
            "created_by": {"id": "7", "login": "a@example.com"},
        }
    ),
    Measured(value=1e20, values=[0.1, -0.0, 5e-324, 1e300], label="é"),
    Measured(value=float("inf"), values=[float("nan"), float("-inf")]),
    Measured(),
    FileContent(file_id="1", name="a.txt", size=3, kind="text", content="abc"),  # its own text()
    FileContent(file_id="1", name="a.bin", size=3, kind="binary", mime_type="application/zip"),
]


@pytest.mark.parametrize("output", CASES, ids=lambda o: type(o).__name__)
def test_one_dump_gives_the_same_text_and_structured_content(output: ToolOutput) -> None:
    text, structured = output.text_and_structured()
    assert text == output.text()
    # repr, not ==: NaN is not equal to itself
    assert repr(structured) == repr(output.model_dump(mode="json", exclude_none=True))
