"""Metadata queries through the official SDK (`search.search_by_metadata_query`): Box's query language over
the demo's `contract` instances (MSA-Globex 120000, NDA-Initech 0, both in Contracts), ancestor folders,
ordering, marker paging, requested metadata fields, visibility, and Box's errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.file_metadata import CreateFileMetadataByIdScope
from box_sdk_gen.managers.search import (
    SearchByMetadataQueryOrderBy,
    SearchByMetadataQueryOrderByDirectionField,
)

from box_mcp.emulator.metadata_query import compile_query, like_regex
from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]
FIELDS = [
    {"key": "counterparty", "type": "string"},
    {"key": "value", "type": "float"},
    {"key": "expires", "type": "date"},
    {"key": "stage", "type": "enum"},
    {"key": "tags", "type": "multiSelect"},
]


def _source(box: RunningEmulator) -> str:
    return f"enterprise_{box.credentials['enterprise_id']}.contract"


def _names(box: RunningEmulator, results: Any) -> list[str]:
    by_id = {v: k.rsplit("/", 1)[-1] for k, v in box.credentials["files"].items()}
    return [by_id.get(e.id, e.id) for e in results.entries or []]


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def test_a_query_with_params_finds_the_matching_instances_inside_the_ancestor(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    contracts = box.credentials["folders"]["Contracts"]
    big = ada.search.search_by_metadata_query(
        _source(box), contracts, query="value >= :min", query_params={"min": 1000}
    )
    assert _names(box, big) == ["MSA-Globex.pdf"]
    both = ada.search.search_by_metadata_query(
        _source(box),
        "0",
        query="counterparty ILIKE :p OR (value = :zero AND NOT counterparty = :other)",
        query_params={"p": "%globex%", "zero": 0, "other": "Nobody"},
        order_by=[
            SearchByMetadataQueryOrderBy(
                field_key="value", direction=SearchByMetadataQueryOrderByDirectionField.DESC
            )
        ],
        fields=["name", f"metadata.{_source(box)}.value"],
    )
    assert _names(box, both) == ["MSA-Globex.pdf", "NDA-Initech.pdf"]
    first = both.entries[0]
    assert first.name == "MSA-Globex.pdf"
    raw = first.to_dict()["metadata"][f"enterprise_{box.credentials['enterprise_id']}"]["contract"]
    assert raw["value"] == 120000 and "counterparty" not in raw and raw["$template"] == "contract"
    elsewhere = ada.search.search_by_metadata_query(_source(box), box.credentials["folders"]["Engineering"])
    assert elsewhere.entries == []


def test_paging_with_a_marker_and_dates_compare_as_dates(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    first = ada.search.search_by_metadata_query(
        _source(box),
        "0",
        query="expires < :when",
        query_params={"when": "2030-01-01T00:00:00Z"},
        order_by=[
            SearchByMetadataQueryOrderBy(
                field_key="expires", direction=SearchByMetadataQueryOrderByDirectionField.ASC
            )
        ],
        limit=1,
    )
    assert _names(box, first) == ["MSA-Globex.pdf"] and first.next_marker
    second = ada.search.search_by_metadata_query(
        _source(box),
        "0",
        query="expires < :when",
        query_params={"when": "2030-01-01T00:00:00Z"},
        order_by=[
            SearchByMetadataQueryOrderBy(
                field_key="expires", direction=SearchByMetadataQueryOrderByDirectionField.ASC
            )
        ],
        limit=1,
        marker=first.next_marker,
    )
    assert _names(box, second) == ["NDA-Initech.pdf"] and not second.next_marker


def test_only_items_the_caller_can_see_come_back(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    hr_file = next(v for k, v in box.credentials["files"].items() if k.startswith("HR/"))
    ada.file_metadata.create_file_metadata_by_id(
        hr_file,
        CreateFileMetadataByIdScope.ENTERPRISE,
        "contract",
        {"counterparty": "Secret Corp", "value": 5.0},
    )
    seen_by_ada = ada.search.search_by_metadata_query(
        _source(box), "0", query="counterparty = :c", query_params={"c": "Secret Corp"}
    )
    assert [e.id for e in seen_by_ada.entries or []] == [hr_file]
    seen_by_bob = bob.search.search_by_metadata_query(
        _source(box), "0", query="counterparty = :c", query_params={"c": "Secret Corp"}
    )
    assert seen_by_bob.entries == []  # Bob cannot see HR, so the query tells him nothing of it


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        ({"from": "global.properties", "ancestor_folder_id": "0"}, 400, "bad_request", "enterprise"),
        (
            {"from": "{src}", "query": "value >= :missing", "ancestor_folder_id": "0"},
            400,
            "unexpected_json_type",
            ":missing",
        ),
        (
            {"from": "{src}", "query": "nosuch = :x", "query_params": {"x": 1}, "ancestor_folder_id": "0"},
            400,
            "bad_request",
            "nosuch",
        ),
        (
            {"from": "{src}", "query": "value >= 5", "ancestor_folder_id": "0"},
            400,
            "bad_request",
            "query_params",
        ),
        (
            {
                "from": "{src}",
                "query": "value = :v",
                "query_params": {"v": "lots"},
                "ancestor_folder_id": "0",
            },
            400,
            "bad_request",
            "number",
        ),
        ({"from": "{src}"}, 400, "bad_request", "ancestor_folder_id"),
        ({"from": "{scope}.nope", "ancestor_folder_id": "0"}, 404, "not_found", "nope"),
        ({"from": "{src}", "ancestor_folder_id": "999999999"}, 404, "not_found", "Folder"),
        ({"from": "{src}", "ancestor_folder_id": "0", "limit": 101}, 400, "bad_request", "limit"),
        (
            {
                "from": "{src}",
                "ancestor_folder_id": "0",
                "order_by": [
                    {"field_key": "value", "direction": "asc"},
                    {"field_key": "expires", "direction": "desc"},
                ],
            },
            400,
            "bad_request",
            "same direction",
        ),
    ],
)
def test_bad_queries_get_boxs_errors(
    box: RunningEmulator, body: dict[str, Any], status: int, code: str, says: str
) -> None:
    import httpx2

    scope = f"enterprise_{box.credentials['enterprise_id']}"
    body = {
        k: (v.format(src=f"{scope}.contract", scope=scope) if isinstance(v, str) else v)
        for k, v in body.items()
    }
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}) as http:
        answer = http.post(f"{box.base_url}/2.0/metadata_queries/execute_read", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code and says in answer.json()["message"], answer.text


def test_the_language_three_valued_logic_like_in_and_null() -> None:
    def q(query: str, data: dict[str, Any], **params: Any) -> bool:
        return compile_query(query, FIELDS, params)(data)

    row = {"counterparty": "Box Contract (2020)", "value": 10, "stage": "draft"}
    assert q("counterparty LIKE :p", row, p="Box% (____)")
    assert not q("counterparty LIKE :p", row, p="box%")
    assert q("counterparty ILIKE :p", row, p="box%")
    assert q("counterparty NOT LIKE :p", row, p="%Sales%")
    assert q("stage IN (:a, :b)", row, a="signed", b="draft") and q("stage NOT IN (:a)", row, a="signed")
    assert q("expires IS NULL", row) and q("value IS NOT NULL", row)
    # a comparison with a missing value is unknown: neither it nor its negation matches
    assert not q("expires > :d", row, d="2020-01-01T00:00:00Z")
    assert not q("NOT expires > :d", row, d="2020-01-01T00:00:00Z")
    assert q("expires > :d OR value <> :v", row, d="2020-01-01T00:00:00Z", v=11)
    assert q(
        "value > :a and value < :b", row, a=9, b="11"
    )  # keywords in any case; a numeric string is a number
    assert like_regex(r"20\%", ignore_case=False).fullmatch("20%") and not like_regex(
        r"20\%", ignore_case=False
    ).fullmatch("200")
    with pytest.raises(Exception, match="multiSelect"):
        q("tags IN (:a)", row, a="x")
    with pytest.raises(Exception, match="expected"):
        q("value >= :a AND", row, a=1)
    with pytest.raises(Exception, match="unexpected"):
        q("value >= :a )", row, a=1)
