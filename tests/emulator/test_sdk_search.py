"""Search through the official SDK: names, descriptions and file text; filters; only what the caller sees."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.search import SearchForContentContentTypes, SearchForContentType
from box_sdk_gen.schemas.metadata_filter import MetadataFilter, MetadataFilterScopeField

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def _names(results: object) -> list[str]:
    return sorted(e.name for e in getattr(results, "entries", None) or [])


def test_search_finds_words_in_file_text_and_returns_path_collection(sdk: Sdk) -> None:
    results = sdk("ada").search.search_for_content(query="idempotent consumers")
    assert _names(results) == ["design.md"]
    entry = results.entries[0]
    assert [p.name for p in entry.path_collection.entries] == ["All Files", "Engineering"]
    assert results.limit == 30 and results.total_count == 1
    assert _names(sdk("ada").search.search_for_content(query='"canary 5%"')) == ["notes.txt"]
    assert _names(sdk("ada").search.search_for_content(query="Globex")) == [
        "MSA-Globex.pdf",
        "q3-report.md",
    ]
    assert _names(sdk("ada").search.search_for_content(query="webinar")) == ["launch-plan.docx"]


def test_search_only_returns_items_the_caller_can_see(sdk: Sdk) -> None:
    assert _names(sdk("ada").search.search_for_content(query="salaries")) == ["salaries.csv"]
    assert _names(sdk("bob").search.search_for_content(query="salaries")) == []
    assert _names(sdk("bob").search.search_for_content(query="runbook")) == ["README.md", "notes.txt"]


def test_search_filters_by_type_extension_ancestor_and_content_type(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    folders = ada.search.search_for_content(query="contracts", type=SearchForContentType.FOLDER)
    assert _names(folders) == ["Contracts"]
    csvs = ada.search.search_for_content(query="Engineering", file_extensions=["csv"])
    assert _names(csvs) == ["budget-2026.csv"]
    inside = ada.search.search_for_content(
        query="agreement", ancestor_folder_ids=[box.credentials["folders"]["Contracts"]]
    )
    assert _names(inside) == ["MSA-Globex.pdf", "NDA-Initech.pdf"]
    by_name = ada.search.search_for_content(query="design", content_types=[SearchForContentContentTypes.NAME])
    assert _names(by_name) == ["design.md"]
    by_description = ada.search.search_for_content(
        query="vendor", content_types=[SearchForContentContentTypes.DESCRIPTION]
    )
    assert _names(by_description) == ["Contracts"]


def test_search_paging_rules(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    page = ada.search.search_for_content(query="a", limit=500)
    assert page.limit == 200
    with pytest.raises(BoxAPIError) as err:
        ada.search.search_for_content(query="a", offset=10001)
    assert err.value.response_info.status_code == 400
    with httpx2.Client() as http:
        headers = {"Authorization": f"Bearer {box.token('ada')}"}
        for params in (
            {},
            {"query": "x", "limit": "-1"},
            {"query": "x", "offset": "abc"},
            {"query": "x", "type": "cat"},
        ):
            response = http.get(f"{box.base_url}/2.0/search", params=params, headers=headers)
            assert response.status_code == 400, params
            assert response.json()["type"] == "error"


def test_metadata_filters_and_ranges_narrow_the_results(sdk: Sdk) -> None:
    ada = sdk("ada")
    # (The SDK squeezes spaces out of mdfilters values, so match a one-word counterparty.)
    initech = ada.search.search_for_content(
        mdfilters=[
            MetadataFilter(
                scope=MetadataFilterScopeField.ENTERPRISE,
                template_key="contract",
                filters={"counterparty": "initech"},
            )
        ]
    )
    assert _names(initech) == ["NDA-Initech.pdf"]
    valuable = ada.search.search_for_content(
        query="agreement",
        mdfilters=[
            MetadataFilter(
                scope=MetadataFilterScopeField.ENTERPRISE,
                template_key="contract",
                filters={"value": {"gt": 1000}},
            )
        ],
    )
    assert _names(valuable) == ["MSA-Globex.pdf"]
    small = ada.search.search_for_content(
        query="Engineering", size_range=[0, 200], type=SearchForContentType.FILE
    )
    assert _names(small) == ["README.md", "budget-2026.csv"]
    big = ada.search.search_for_content(query="Engineering", size_range=[100000, 200000000])
    assert _names(big) == []
    none_yet = ada.search.search_for_content(
        query="design", created_at_range=["2001-01-01T00:00:00Z", "2001-12-31T00:00:00Z"]
    )
    assert _names(none_yet) == []
    recent = ada.search.search_for_content(query="design", updated_at_range=["2020-01-01T00:00:00Z", ""])
    assert _names(recent) == ["README.md", "design.md"]  # README.md points at design.md


def test_search_with_recent_shared_links_wraps_each_item(sdk: Sdk) -> None:
    results = sdk("ada").search.search_for_content(query="runbook", include_recent_shared_links=True)
    assert results.type.value == "search_results_with_shared_links"
    assert sorted(e.item.name for e in results.entries or []) == ["README.md", "notes.txt"]
    assert all(e.accessible_via_shared_link is None for e in results.entries or [])
