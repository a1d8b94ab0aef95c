"""The official SDK against Box Doc Gen (2025.0): templates, tags, batches and jobs, and their errors;
every JSON answer is checked against Box's 2025.0 OpenAPI spec (the `box` fixture)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.docgen import CreateDocgenBatchV2025R0DestinationFolder
from box_sdk_gen.managers.uploads import UploadFileAttributes, UploadFileAttributesParentField
from box_sdk_gen.schemas.v2025_r0.doc_gen_document_generation_data_v2025_r0 import (
    DocGenDocumentGenerationDataV2025R0,
)
from box_sdk_gen.schemas.v2025_r0.file_reference_v2025_r0 import FileReferenceV2025R0

from box_mcp.emulator import docgen_render
from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]
TEMPLATE = (
    "Invoice for {{customer.name}}\n"
    "{{for item in products}}- {{item.name}}: {{item.price * item.qty}}\n{{endfor}}"
    '{{if status == "paid"}}Paid, thank you.{{else}}Please pay by {{due}}.{{endif}}\n'
)


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def _v(value: object) -> object:
    """An SDK enum's value (the SDK leaves a value it has no member for as the plain string)."""
    return getattr(value, "value", value)


def _upload(client: BoxClient, folder_id: str, name: str, data: bytes) -> str:
    files = client.uploads.upload_file(
        UploadFileAttributes(name=name, parent=UploadFileAttributesParentField(id=folder_id)),
        io.BytesIO(data),
    )
    return str(files.entries[0].id)


def _docx_text(data: bytes) -> str:
    return docgen_render.template_text("out.docx", data)


def _batch(
    client: BoxClient,
    template_id: str,
    folder_id: str,
    *inputs: tuple[str, dict[str, object]],
    output: str = "docx",
) -> str:
    batch = client.docgen.create_docgen_batch_v2025_r0(
        FileReferenceV2025R0(id=template_id),
        "api",
        CreateDocgenBatchV2025R0DestinationFolder(id=folder_id),
        output,
        [DocGenDocumentGenerationDataV2025R0(generated_file_name=n, user_input=u) for n, u in inputs],
    )
    assert batch.type == "docgen_batch"
    return str(batch.id)


def test_mark_list_get_tags_and_unmark_a_template(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    folder = box.credentials["folders"]["Finance"]
    template_id = _upload(ada, folder, "invoice.txt", TEMPLATE.encode())
    marked = ada.docgen_template.create_docgen_template_v2025_r0(FileReferenceV2025R0(id=template_id))
    assert marked.file.id == template_id
    listed = ada.docgen_template.get_docgen_templates_v2025_r0()
    assert [(t.file.id, t.file_name) for t in listed.entries] == [(template_id, "invoice.txt")]
    assert ada.docgen_template.get_docgen_template_by_id_v2025_r0(template_id).file_name == "invoice.txt"
    tags = ada.docgen_template.get_docgen_template_tags_v2025_r0(template_id).entries
    assert [(t.tag_content, _v(t.tag_type), t.json_paths) for t in tags] == [
        ("{{customer.name}}", "text", ["customer", "customer.name"]),
        ("{{for item in products}}", "for-loop", ["products"]),
        ("{{item.name}}", "text", ["products", "products.name"]),
        ("{{item.price * item.qty}}", "arithmetic", ["products", "products.price", "products.qty"]),
        ('{{if status == "paid"}}', "conditional", ["status"]),
        ("{{due}}", "text", ["due"]),
    ]
    # Bob cannot see Finance: neither the template nor its listing entry
    assert sdk("bob").docgen_template.get_docgen_templates_v2025_r0().entries == []
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").docgen_template.get_docgen_template_by_id_v2025_r0(template_id)
    assert _code(err) == (404, "not_found")
    ada.docgen_template.delete_docgen_template_by_id_v2025_r0(template_id)
    with pytest.raises(BoxAPIError) as err:
        ada.docgen_template.get_docgen_template_by_id_v2025_r0(template_id)
    assert _code(err) == (404, "not_found")


def test_a_batch_fills_tags_into_files_in_the_destination(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    finance = box.credentials["folders"]["Finance"]
    template_id = _upload(ada, finance, "invoice.txt", TEMPLATE.encode())
    ada.docgen_template.create_docgen_template_v2025_r0(FileReferenceV2025R0(id=template_id))
    out = ada.folders.create_folder("invoices", {"id": finance}).id  # type: ignore[arg-type]
    products = [{"name": "Widget", "price": 2.5, "qty": 4}, {"name": "Gadget", "price": 10, "qty": 1}]
    batch_id = _batch(
        ada,
        template_id,
        out,
        ("globex", {"customer": {"name": "Globex"}, "products": products, "status": "paid"}),
        ("initech", {"customer": {"name": "Initech"}, "products": [], "status": "open", "extra": 1}),
    )
    jobs = ada.docgen.get_docgen_batch_job_by_id_v2025_r0(batch_id).entries
    assert [_v(j.status) for j in jobs] == ["completed", "completed_with_error"]
    assert jobs[1].failures.errors == ["The tag 'due' was not provided in the input data."]
    assert jobs[1].failures.warnings == ["The tag 'extra' was provided but not used in the template."]
    first = ada.downloads.download_file(jobs[0].output_file.id).read()
    assert _docx_text(first) == "Invoice for Globex\n- Widget: 10\n- Gadget: 10\nPaid, thank you.\n"
    assert _docx_text(ada.downloads.download_file(jobs[1].output_file.id).read()) == (
        "Invoice for Initech\nPlease pay by .\n"
    )
    names = {e.name for e in ada.folders.get_folder_items(out).entries}
    assert names == {"globex.docx", "initech.docx"}
    job = ada.docgen.get_docgen_job_by_id_v2025_r0(jobs[0].id)
    assert job.template_file.id == template_id and job.batch.id == batch_id
    full = ada.docgen.get_docgen_jobs_v2025_r0().entries
    assert {j.id for j in full} == {j.id for j in jobs} and full[0].source == "api"
    assert {
        j.id for j in ada.docgen_template.get_docgen_template_job_by_id_v2025_r0(template_id).entries
    } == {j.id for j in jobs}
    # a second batch with the same names fails per job, and a PDF comes out as a PDF
    again = _batch(
        ada, template_id, out, ("globex", {}), ("fresh", {"customer": {"name": "X"}}), output="pdf"
    )
    statuses = [_v(j.status) for j in ada.docgen.get_docgen_batch_job_by_id_v2025_r0(again).entries]
    assert statuses == ["completed_with_error", "completed_with_error"]  # globex.pdf is a new name
    pdf_job = ada.docgen.get_docgen_batch_job_by_id_v2025_r0(again).entries[1]
    assert ada.downloads.download_file(pdf_job.output_file.id).read().startswith(b"%PDF-1.4")
    dup = _batch(ada, template_id, out, ("globex", {}))
    (failed,) = ada.docgen.get_docgen_batch_job_by_id_v2025_r0(dup).entries
    assert _v(failed.status) == "failed" and failed.output_file is None
    # jobs are their creator's own
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").docgen.get_docgen_job_by_id_v2025_r0(jobs[0].id)
    assert _code(err) == (404, "not_found")


def test_docx_templates_are_read_too(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    folder = box.credentials["folders"]["Engineering"]
    template_id = _upload(ada, folder, "letter.docx", docgen_render.docx_bytes("Dear {{name}},\nwelcome."))
    ada.docgen_template.create_docgen_template_v2025_r0(FileReferenceV2025R0(id=template_id))
    batch_id = _batch(ada, template_id, folder, ("letter-bob", {"name": "Bob"}))
    (job,) = ada.docgen.get_docgen_batch_job_by_id_v2025_r0(batch_id).entries
    assert _v(job.status) == "completed" and job.failures is None
    assert _docx_text(ada.downloads.download_file(job.output_file.id).read()) == "Dear Bob,\nwelcome."


def test_docgen_errors(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    files, folders = box.credentials["files"], box.credentials["folders"]
    with pytest.raises(BoxAPIError) as err:  # a binary file the engine cannot read
        ada.docgen_template.create_docgen_template_v2025_r0(
            FileReferenceV2025R0(id=_upload(ada, folders["Finance"], "blob.bin", b"\xff\xfe\x00binary"))
        )
    assert _code(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:  # Bob only views Engineering: he may not mark its files
        bob.docgen_template.create_docgen_template_v2025_r0(
            FileReferenceV2025R0(id=files["Engineering/design.md"])
        )
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    design = files["Engineering/design.md"]
    with pytest.raises(BoxAPIError) as err:  # not (yet) a template
        _batch(ada, design, folders["Engineering"], ("x", {}))
    assert _code(err) == (404, "not_found")
    ada.docgen_template.create_docgen_template_v2025_r0(FileReferenceV2025R0(id=design))
    with pytest.raises(BoxAPIError) as err:  # Bob may read the template but not write into Engineering
        _batch(bob, design, folders["Engineering"], ("x", {}))
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        _batch(ada, design, folders["Engineering"], ("x", {}), output="exe")
    assert _code(err) == (400, "bad_request") and "output_type" in str(err.value.response_info.body)
    with pytest.raises(BoxAPIError) as err:
        _batch(ada, design, folders["Engineering"])
    assert _code(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:
        ada.docgen.get_docgen_batch_job_by_id_v2025_r0("424242")
    assert _code(err) == (404, "not_found")


def test_the_engine_refuses_badly_nested_blocks_and_bad_docx() -> None:
    with pytest.raises(docgen_render.TemplateError, match="never closed"):
        docgen_render.fill("{{for x in xs}} {{x}}", {"xs": [1]})
    with pytest.raises(docgen_render.TemplateError, match="does not close"):
        docgen_render.fill("{{endif}}", {})
    with pytest.raises(docgen_render.TemplateError, match="must read"):
        docgen_render.fill("{{for xs}}{{endfor}}", {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", '<!DOCTYPE x [<!ENTITY a "b">]><x/>')
    with pytest.raises(docgen_render.TemplateError, match="DTD"):
        docgen_render.template_text("t.docx", buf.getvalue())
    result = docgen_render.fill("{{a / b}} {{n + 1}} {{if not flag}}off{{endif}}", {"a": 1, "b": 0, "n": "x"})
    assert result.text == "  off"
    assert result.errors == [
        "The tag '{{a / b}}' could not be computed: division by zero.",
        "The tag '{{n + 1}}' could not be computed: 'n' is not a number.",
        "The tag 'flag' was not provided in the input data.",
    ]
    assert docgen_render.fill("{{len(xs)}}", {"xs": []}).errors == [
        "The tag '{{len(xs)}}' could not be computed: "
        "'len(xs)' is not supported (only + - * / of paths and numbers)."
    ]
