"""The official SDK's `ai` manager against the emulator's Box AI stand-in: answers quoted from the items with
citations, structured extraction from the text, the default agent, and Box's errors and limits."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import httpx2 as httpx
import pytest
from box_sdk_gen import BaseUrls, BoxAPIError, BoxClient, BoxDeveloperTokenAuth, NetworkSession
from box_sdk_gen.managers.ai import (
    CreateAiAskMode,
    CreateAiExtractStructuredFields,
    CreateAiExtractStructuredFieldsOptionsField,
    CreateAiExtractStructuredMetadataTemplate,
    CreateAiExtractStructuredMetadataTemplateTypeField,
    CreateAiTextGenItems,
    GetAiAgentDefaultConfigMode,
)
from box_sdk_gen.managers.uploads import UploadFileAttributes, UploadFileAttributesParentField
from box_sdk_gen.schemas.ai_agent_reference import AiAgentReference
from box_sdk_gen.schemas.ai_item_ask import AiItemAsk, AiItemAskTypeField
from box_sdk_gen.schemas.ai_item_base import AiItemBase

from box_mcp.emulator.routes import ai
from box_mcp.emulator.testing import EmulatorHost, RunningEmulator

Sdk = Callable[[str], BoxClient]
CONTRACT = (
    b"Supply agreement\n\nCounterparty: Acme Widgets Ltd\nValue: 1,250.50 USD per month\n"
    b"Expires: June 30, 2027\nRenewal: automatic unless cancelled\nRegions covered: EMEA and APAC\n"
)


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def _file(box: RunningEmulator, path: str) -> AiItemAsk:
    return AiItemAsk(id=box.credentials["files"][path], type=AiItemAskTypeField.FILE)


def _upload(client: BoxClient, box: RunningEmulator, name: str, data: bytes) -> str:
    parent = UploadFileAttributesParentField(id=box.credentials["folders"]["Contracts"])
    uploaded = client.uploads.upload_file(UploadFileAttributes(name=name, parent=parent), io.BytesIO(data))
    return str((uploaded.entries or [])[0].id)


def test_a_single_file_question_is_answered_with_the_passage_it_quotes_and_a_citation(
    sdk: Sdk, box: RunningEmulator
) -> None:
    report = _file(box, "Finance/q3-report.md")
    answer = sdk("ada").ai.create_ai_ask(
        CreateAiAskMode.SINGLE_ITEM_QA, "How much did revenue grow?", [report], include_citations=True
    )
    assert answer is not None
    assert answer.answer == "Revenue grew 12% quarter over quarter."
    assert answer.completion_reason == "done"
    (citation,) = answer.citations or []
    assert (citation.id, citation.name, citation.content) == (report.id, "q3-report.md", answer.answer)
    models = (answer.ai_agent_info.models or []) if answer.ai_agent_info else []
    assert [(m.name, m.provider) for m in models] == [(ai.MODEL, ai.PROVIDER)]
    assert "no language model" in (answer.ai_agent_info.processor or "")


def test_a_multi_file_question_quotes_the_best_passage_across_files_and_cites_its_file(
    sdk: Sdk, box: RunningEmulator
) -> None:
    files = [_file(box, "Contracts/MSA-Globex.pdf"), _file(box, "Finance/q3-report.md")]
    answer = sdk("ada").ai.create_ai_ask(
        CreateAiAskMode.MULTIPLE_ITEM_QA, "When did the Globex renewal close?", files, include_citations=True
    )
    assert answer is not None and answer.answer == "The Globex renewal closed in September."
    assert [c.id for c in answer.citations or []] == [files[1].id]
    without = sdk("ada").ai.create_ai_ask(CreateAiAskMode.MULTIPLE_ITEM_QA, "renewal terms?", files)
    assert without is not None and without.citations is None  # citations only when asked for
    assert "renewal by notice" in without.answer and "renewal closed" in without.answer


def test_a_question_no_passage_shares_a_term_with_says_so_and_cites_nothing(
    sdk: Sdk, box: RunningEmulator
) -> None:
    answer = sdk("ada").ai.create_ai_ask(
        CreateAiAskMode.SINGLE_ITEM_QA,
        "Who painted the Mona Lisa?",
        [_file(box, "HR/handbook.md")],
        include_citations=True,
    )
    assert answer is not None and answer.citations == []
    assert "nothing to quote" in answer.answer


def test_ask_refuses_bad_modes_and_item_lists_as_box_does(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    one, two = _file(box, "HR/handbook.md"), _file(box, "Finance/q3-report.md")
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_ask(CreateAiAskMode.SINGLE_ITEM_QA, "vacation?", [one, two])
    assert (
        _code(err) == (400, "bad_request") and "exactly one item" in err.value.response_info.body["message"]
    )
    many = [AiItemAsk(id=str(1000 + i), type=AiItemAskTypeField.FILE) for i in range(26)]
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_ask(CreateAiAskMode.MULTIPLE_ITEM_QA, "vacation?", many)
    assert _code(err) == (400, "bad_request") and "at most 25" in err.value.response_info.body["message"]
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_ask(CreateAiAskMode.MULTIPLE_ITEM_QA, "x" * 10001, [one])
    assert _code(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_ask(CreateAiAskMode.MULTIPLE_ITEM_QA, "vacation?", [one, one])
    assert _code(err) == (400, "bad_request")
    hub = AiItemAsk(id="12345", type=AiItemAskTypeField.HUBS)
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_ask(CreateAiAskMode.MULTIPLE_ITEM_QA, "vacation?", [hub, one])
    assert _code(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:  # an unknown hub
        ada.ai.create_ai_ask(CreateAiAskMode.SINGLE_ITEM_QA, "vacation?", [hub])
    assert _code(err) == (404, "not_found")
    raw = httpx.post(
        f"{box.base_url}/2.0/ai/ask",
        headers={"Authorization": f"Bearer {box.token('ada')}"},
        json={"mode": "chat", "prompt": "hi", "items": [{"type": "file", "id": one.id}]},
    )
    assert raw.status_code == 400 and "single_item_qa" in raw.json()["message"]


def test_an_item_the_caller_cannot_see_is_404_even_among_files_it_can(sdk: Sdk, box: RunningEmulator) -> None:
    bob = sdk("bob")  # a viewer on Engineering only
    design, salaries = _file(box, "Engineering/design.md"), _file(box, "HR/salaries.csv")
    ok = bob.ai.create_ai_ask(CreateAiAskMode.SINGLE_ITEM_QA, "What runs everything?", [design])
    assert ok is not None and ok.answer == "Kubernetes runs everything."
    for items in ([salaries], [design, salaries]):
        mode = CreateAiAskMode.SINGLE_ITEM_QA if len(items) == 1 else CreateAiAskMode.MULTIPLE_ITEM_QA
        with pytest.raises(BoxAPIError) as err:
            bob.ai.create_ai_ask(mode, "salary?", items)
        assert _code(err) == (404, "not_found")


def _session(base: str) -> NetworkSession:
    return NetworkSession(
        base_urls=BaseUrls(base_url=base, upload_url=f"{base}/api", oauth_2_url=f"{base}/oauth2")
    )


def test_a_downscoped_token_needs_manage_ai_and_stays_inside_its_file(box: RunningEmulator) -> None:
    design = box.credentials["files"]["Engineering/design.md"]

    def client(scopes: list[str]) -> BoxClient:
        small = BoxDeveloperTokenAuth(token=box.token("ada")).downscope_token(
            scopes, resource=f"https://api.box.com/2.0/files/{design}", network_session=_session(box.base_url)
        )
        return BoxClient(
            BoxDeveloperTokenAuth(token=small.access_token), network_session=_session(box.base_url)
        )

    item = AiItemAsk(id=design, type=AiItemAskTypeField.FILE)
    with pytest.raises(BoxAPIError) as err:
        client(["base_preview"]).ai.create_ai_ask(CreateAiAskMode.SINGLE_ITEM_QA, "gRPC?", [item])
    assert _code(err) == (403, "insufficient_scope")
    narrow = client(["ai.readwrite", "base_preview"])
    answer = narrow.ai.create_ai_ask(
        CreateAiAskMode.SINGLE_ITEM_QA, "Which protocol do services use?", [item]
    )
    assert answer is not None and "gRPC" in answer.answer
    with pytest.raises(BoxAPIError) as err:  # another file: outside the token's resource
        narrow.ai.create_ai_ask(CreateAiAskMode.SINGLE_ITEM_QA, "vacation?", [_file(box, "HR/handbook.md")])
    assert _code(err) == (404, "not_found")


def test_text_gen_takes_exactly_one_file_and_quotes_from_it(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    notes = box.credentials["files"]["Engineering/notes.txt"]
    made = ada.ai.create_ai_text_gen("Summarise the canary rollout", [CreateAiTextGenItems(id=notes)])
    assert made.answer.startswith("Deployment runbook: blue/green, canary 5%")
    readme = box.credentials["files"]["Engineering/README.md"]
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_text_gen("x", [CreateAiTextGenItems(id=notes), CreateAiTextGenItems(id=readme)])
    assert _code(err) == (400, "bad_request")


def test_freeform_extraction_reads_the_named_values_from_the_text(sdk: Sdk, box: RunningEmulator) -> None:
    msa = box.credentials["files"]["Contracts/MSA-Globex.pdf"]
    answer = sdk("ada").ai.create_ai_extract("Extract the term and value", [AiItemBase(id=msa)])
    assert json.loads(answer.answer) == {"term": "24 months", "value": "120000 USD"}
    as_schema = json.dumps({"fields": [{"key": "term", "type": "string"}, {"key": "renewal"}]})
    answer = sdk("ada").ai.create_ai_extract(as_schema, [AiItemBase(id=msa)])
    assert json.loads(answer.answer) == {"term": "24 months", "renewal": "by notice"}


def test_structured_extraction_from_fields_reads_names_types_and_options(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    file_id = _upload(ada, box, "supply.txt", CONTRACT)
    option = CreateAiExtractStructuredFieldsOptionsField
    fields = [
        CreateAiExtractStructuredFields(key="counterparty", type="string", display_name="Counterparty"),
        CreateAiExtractStructuredFields(key="monthlyValue", type="float", display_name="Value"),
        CreateAiExtractStructuredFields(key="expires", type="date"),
        CreateAiExtractStructuredFields(
            key="renewal", type="enum", options=[option(key="manual"), option(key="automatic")]
        ),
        CreateAiExtractStructuredFields(
            key="regions_covered", type="multiSelect", options=[option(key="APAC"), option(key="EMEA")]
        ),
        CreateAiExtractStructuredFields(key="governing_law", type="string"),
    ]
    out = ada.ai.create_ai_extract_structured(
        [AiItemBase(id=file_id)], fields=fields, include_confidence_score=True, include_reference=True
    )
    assert out.answer == {
        "counterparty": "Acme Widgets Ltd",
        "monthlyValue": 1250.5,
        "expires": "2027-06-30T00:00:00.000Z",
        "renewal": "automatic",
        "regions_covered": ["EMEA", "APAC"],
        "governing_law": None,  # not in the text: nothing is made up
    }
    assert out.confidence_score is not None and set(out.confidence_score) == set(out.answer) - {
        "governing_law"
    }
    assert out.reference is not None
    assert out.reference["counterparty"] == [
        {"type": "file", "id": file_id, "name": "supply.txt", "content": "Counterparty: Acme Widgets Ltd"}
    ]


def test_structured_extraction_from_a_template_and_with_the_enhanced_agent(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    file_id = _upload(ada, box, "supply.txt", CONTRACT)
    template = CreateAiExtractStructuredMetadataTemplate(
        template_key="contract",
        scope="enterprise",
        type=CreateAiExtractStructuredMetadataTemplateTypeField.METADATA_TEMPLATE,
    )
    out = ada.ai.create_ai_extract_structured(
        [AiItemBase(id=file_id)],
        metadata_template=template,
        ai_agent=AiAgentReference(id="enhanced_extract_agent"),
    )
    assert out.answer == {
        "counterparty": "Acme Widgets Ltd",
        "value": 1250.5,
        "expires": "2027-06-30T00:00:00.000Z",
    }
    assert "enhanced_extract_agent requested" in (out.ai_agent_info.processor or "")
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_extract_structured(
            [AiItemBase(id=file_id)], metadata_template=template, ai_agent=AiAgentReference(id="14031")
        )
    assert _code(err) == (404, "not_found")
    missing = CreateAiExtractStructuredMetadataTemplate(template_key="invoice", scope="enterprise")
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_extract_structured([AiItemBase(id=file_id)], metadata_template=missing)
    assert _code(err) == (404, "not_found")
    field = CreateAiExtractStructuredFields(key="value", type="float")
    for kwargs in ({}, {"metadata_template": template, "fields": [field]}):
        with pytest.raises(BoxAPIError) as err:
            ada.ai.create_ai_extract_structured([AiItemBase(id=file_id)], **kwargs)  # type: ignore[arg-type]
        assert _code(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:
        ada.ai.create_ai_extract_structured(
            [AiItemBase(id=file_id)], fields=[field, CreateAiExtractStructuredFields(key="value")]
        )
    assert _code(err) == (400, "bad_request")


def test_the_default_agent_of_each_mode_names_the_stand_in(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    for mode in GetAiAgentDefaultConfigMode:
        agent = ada.ai.get_ai_agent_default_config(mode)
        assert agent.type == f"ai_agent_{mode.value}"
    raw = httpx.get(
        f"{box.base_url}/2.0/ai_agent_default", headers={"Authorization": f"Bearer {box.token('ada')}"}
    )
    assert raw.status_code == 400 and "mode" in raw.json()["message"]


def test_box_ai_has_its_own_per_user_rate_limit_with_retry_after(emulators: EmulatorHost) -> None:
    box = emulators.fresh(seed="demo", rate_limits=True)
    design = box.credentials["files"]["Engineering/design.md"]
    body = {"mode": "single_item_qa", "prompt": "gRPC?", "items": [{"type": "file", "id": design}]}
    statuses = []
    with httpx.Client(base_url=box.base_url, headers={"Authorization": f"Bearer {box.token('bob')}"}) as bob:
        for _ in range(3):
            answer = bob.post("/2.0/ai/ask", json=body)
            statuses.append(answer.status_code)
        assert statuses == [200, 200, 429]
        assert int(answer.headers["Retry-After"]) >= 1 and answer.json()["code"] == "rate_limit_exceeded"
        assert bob.get(f"/2.0/files/{design}").status_code == 200  # the rest of the API is metered apart
    other = httpx.post(
        f"{box.base_url}/2.0/ai/ask", json=body, headers={"Authorization": f"Bearer {box.token('ada')}"}
    )
    assert other.status_code == 200  # per user: Ada has her own budget


FILE_ITEM = {"type": "file", "id": "1300000000005"}


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("ask", {"mode": "single_item_qa", "prompt": 5, "items": [FILE_ITEM]}, "'prompt' is required"),
        ("ask", {"mode": "single_item_qa", "prompt": "q", "items": "x"}, "'items' is required"),
        ("ask", {"mode": "single_item_qa", "prompt": "q", "items": ["x"]}, "'items[0]' must be an object"),
        ("ask", {"mode": "single_item_qa", "prompt": "q", "items": [{"type": "folder", "id": "1"}]}, "type"),
        ("ask", {"mode": "single_item_qa", "prompt": "q", "items": [{"type": "file", "id": "x1"}]}, ".id'"),
        ("ask", {"mode": "single_item_qa", "prompt": "q", "items": [{**FILE_ITEM, "content": 1}]}, "content"),
        (
            "ask",
            {"mode": "single_item_qa", "prompt": "q", "items": [FILE_ITEM], "dialogue_history": {}},
            "dialogue_history",
        ),
        (
            "ask",
            {
                "mode": "single_item_qa",
                "prompt": "q",
                "items": [FILE_ITEM],
                "dialogue_history": [{"prompt": 1}],
            },
            "dialogue_history[0]",
        ),
        ("ask", {"mode": "single_item_qa", "prompt": "q", "items": [FILE_ITEM], "ai_agent": "x"}, "ai_agent"),
        (
            "ask",
            {
                "mode": "single_item_qa",
                "prompt": "q",
                "items": [FILE_ITEM],
                "ai_agent": {"type": "ai_agent_id"},
            },
            "'ai_agent.id' is required",
        ),
        (
            "ask",
            {
                "mode": "single_item_qa",
                "prompt": "q",
                "items": [FILE_ITEM],
                "ai_agent": {"type": "ai_agent_extract"},
            },
            "ai_agent_ask",
        ),
        (
            "ask",
            {"mode": "single_item_qa", "prompt": "q", "items": [FILE_ITEM], "include_citations": "yes"},
            "include_citations",
        ),
        ("extract_structured", {"items": [FILE_ITEM], "fields": []}, "non-empty list"),
        ("extract_structured", {"items": [FILE_ITEM], "fields": [{"key": ""}]}, "fields[0].key"),
        ("extract_structured", {"items": [FILE_ITEM], "fields": [{"key": "a", "type": 3}]}, "fields[0].type"),
        ("extract_structured", {"items": [FILE_ITEM], "fields": [{"key": "a", "options": ["x"]}]}, "options"),
        ("extract_structured", {"items": [FILE_ITEM], "fields": [{"key": "a"}] * 501}, "at most 500"),
        ("extract_structured", {"items": [FILE_ITEM], "metadata_template": "contract"}, "template_key"),
        (
            "extract_structured",
            {"items": [FILE_ITEM], "metadata_template": {"template_key": "contract", "type": "template"}},
            "metadata_template.type",
        ),
        (
            "extract_structured",
            {"items": [FILE_ITEM], "metadata_template": {"template_key": "contract", "scope": "x" * 41}},
            "metadata_template.scope",
        ),
        (
            "extract_structured",
            {"items": [FILE_ITEM], "fields": [{"key": "a"}], "include_reference": "yes"},
            "include_reference",
        ),
    ],
)
def test_malformed_ai_requests_are_400_naming_the_problem(
    box: RunningEmulator, path: str, body: dict, says: str
) -> None:
    answer = httpx.post(
        f"{box.base_url}/2.0/ai/{path}", json=body, headers={"Authorization": f"Bearer {box.token('ada')}"}
    )
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["message"]


def test_reading_values_by_type_numbers_dates_and_content_given_inline(
    sdk: Sdk, box: RunningEmulator
) -> None:
    text = (
        "Signed: 31 January 2028\nReview: 2027-02-31 then 2027-03-01\nHeadcount: 1,204 people\n"
        "Budget is not stated\n"
    )
    file_id = box.credentials["files"]["HR/handbook.md"]  # its own text is replaced by the content given
    fields = [
        CreateAiExtractStructuredFields(key="signed", type="date"),
        CreateAiExtractStructuredFields(key="review", type="date"),
        CreateAiExtractStructuredFields(key="headcount", type="integer"),
        CreateAiExtractStructuredFields(key="budget", type="float"),
        CreateAiExtractStructuredFields(key="vacation", type="string"),
    ]
    out = sdk("ada").ai.create_ai_extract_structured([AiItemBase(id=file_id, content=text)], fields=fields)
    assert out.answer == {
        "signed": "2028-01-31T00:00:00.000Z",
        "review": "2027-03-01T00:00:00.000Z",  # 2027-02-31 is no date
        "headcount": 1204,
        "budget": None,
        "vacation": None,  # the handbook says 25 days, but the content given stands in for it
    }


def test_an_agent_override_is_accepted_and_a_long_sentence_is_quoted_cut_at_a_word(
    box: RunningEmulator,
) -> None:
    long_sentence = "The warranty covers " + " ".join(f"part{i}" for i in range(200)) + "."
    body = {
        "mode": "single_item_qa",
        "prompt": "What does the warranty cover?",
        "items": [
            {"type": "file", "id": box.credentials["files"]["HR/handbook.md"], "content": long_sentence}
        ],
        "ai_agent": {"type": "ai_agent_ask", "basic_text": {"model": "azure__openai__gpt_4o_mini"}},
    }
    answer = httpx.post(
        f"{box.base_url}/2.0/ai/ask", json=body, headers={"Authorization": f"Bearer {box.token('ada')}"}
    )
    assert answer.status_code == 200, answer.text
    quoted = answer.json()["answer"]
    assert quoted.startswith("The warranty covers part0") and quoted.endswith(" …")
    assert len(quoted) <= ai.MAX_PASSAGE + 2
    assert answer.json()["ai_agent_info"]["models"][0]["name"] == ai.MODEL  # the override changed nothing
