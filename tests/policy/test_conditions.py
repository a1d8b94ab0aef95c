"""Argument conditions: one test per constraint type, on permits and on forbids (`when` / `unless`)."""

from __future__ import annotations

import pytest

ANC = {"folder:5": ("0", "5"), "file:9": ("0", "5"), "folder:0": ("0",)}


def permit_with(when: str, tools: str = "") -> str:
    tools_line = f"    tools: [{tools}]\n" if tools else "    access: admin\n"
    return f"""
agents: {{a: {{}}}}
rules:
  - id: limited
    effect: permit
    agents: a
{tools_line}    when: {when}
"""


def test_max_upload_bytes_accepts_units(make_engine, ask, use):
    e = make_engine(permit_with("{max_upload_bytes: 25 MB}"))
    up = use("folder", "5", "write", "parent")
    assert ask(e, "a", "upload_file", up, ancestry=ANC, name="a.pdf", size_bytes=25_000_000).allowed
    d = ask(e, "a", "upload_file", up, ancestry=ANC, name="a.pdf", size_bytes=25_000_001)
    assert not d.allowed and "allows only uploads up to 25,000,000 bytes, not 25,000,001 bytes" in d.reason
    mib = make_engine(permit_with("{max_upload_bytes: 1 MiB}"))
    assert ask(mib, "a", "upload_file", up, ancestry=ANC, size_bytes=2**20).allowed
    assert not ask(mib, "a", "upload_file", up, ancestry=ANC, size_bytes=2**20 + 1).allowed


def test_file_extensions_are_case_insensitive_and_derived_from_the_name(make_engine, ask, use):
    e = make_engine(permit_with("{file_extensions: [.PDF, docx]}"))
    up = use("folder", "5", "write", "parent")
    assert ask(e, "a", "upload_file", up, ancestry=ANC, name="Deal.Pdf", size_bytes=1).allowed
    assert ask(e, "a", "upload_file", up, ancestry=ANC, extension="docx").allowed
    d = ask(e, "a", "upload_file", up, ancestry=ANC, name="run.exe", size_bytes=1)
    assert not d.allowed and "file extensions docx, pdf, not extension 'exe'" in d.reason
    # A name without an extension is not a loophole around "only pdf".
    assert not ask(e, "a", "upload_file", up, ancestry=ANC, name="README", size_bytes=1).allowed
    assert not ask(e, "a", "upload_file", up, ancestry=ANC, name=".pdf", size_bytes=1).allowed
    # Folder names carry no extension, so the limit does not apply to create_folder.
    assert ask(e, "a", "create_folder", up, ancestry=ANC, name="Q3").allowed


def test_name_patterns_are_globs(make_engine, ask, use):
    e = make_engine(permit_with("{name_patterns: ['Q?-report*', '*.csv']}"))
    up = use("folder", "5", "write", "parent")
    assert ask(e, "a", "create_folder", up, ancestry=ANC, name="q3-report 2026").allowed
    assert ask(e, "a", "upload_file", up, ancestry=ANC, name="data.CSV").allowed
    d = ask(e, "a", "create_folder", up, ancestry=ANC, name="secrets")
    assert not d.allowed and "name 'secrets'" in d.reason


def test_shared_link_access_levels(make_engine, ask, use):
    e = make_engine(permit_with("{shared_link_access: [company, collaborators]}", "add_file_shared_link"))
    item = use("file", "9", "admin")
    assert ask(e, "a", "add_file_shared_link", item, ancestry=ANC, shared_link_access="company").allowed
    d = ask(e, "a", "add_file_shared_link", item, ancestry=ANC, shared_link_access="open")
    assert not d.allowed and "shared-link access 'open'" in d.reason


def test_collaboration_roles(make_engine, ask, use):
    e = make_engine(permit_with("{collaboration_roles: [viewer, previewer]}", "create_collaboration"))
    item = use("folder", "5", "admin")
    assert ask(e, "a", "create_collaboration", item, ancestry=ANC, collaboration_role="Viewer").allowed
    assert not ask(e, "a", "create_collaboration", item, ancestry=ANC, collaboration_role="co-owner").allowed


def test_invitee_domains_exact_and_wildcard(make_engine, ask, use):
    e = make_engine(
        permit_with("{invitee_domains: ['@example.com', '*.corp.example']}", "create_collaboration")
    )
    item = use("folder", "5", "admin")
    assert ask(e, "a", "create_collaboration", item, ancestry=ANC, invitee_email="Ann@Example.com").allowed
    assert ask(e, "a", "create_collaboration", item, ancestry=ANC, invitee_email="bo@eu.corp.example").allowed
    d = ask(e, "a", "create_collaboration", item, ancestry=ANC, invitee_email="eve@example.com.evil.io")
    assert not d.allowed and "an invitee from example.com.evil.io" in d.reason
    assert not ask(e, "a", "create_collaboration", item, ancestry=ANC, invitee_email="x@corp.example").allowed


def test_metadata_templates(make_engine, ask, use):
    e = make_engine(permit_with("{metadata_templates: ['enterprise_*/contract']}", "set_file_metadata"))
    item = use("file", "9", "write")
    assert ask(
        e, "a", "set_file_metadata", item, ancestry=ANC, metadata_template="enterprise_42/contract"
    ).allowed
    assert not ask(
        e, "a", "set_file_metadata", item, ancestry=ANC, metadata_template="enterprise_42/hr"
    ).allowed


def test_permit_conditions_do_not_restrict_calls_that_do_not_set_the_value(make_engine, ask, use):
    e = make_engine(permit_with("{file_extensions: [pdf], max_upload_bytes: 10}"))
    assert ask(e, "a", "get_file_details", use("file", "9"), ancestry=ANC).allowed


def test_forbid_when_matches_only_calls_setting_the_value(make_engine, ask, use):
    e = make_engine("""
agents: {a: {}}
rules:
  - {id: all, effect: permit, agents: a, access: admin}
  - id: no-public-links
    effect: forbid
    agents: "*"
    when: {shared_link_access: [open]}
    description: Public links leak documents
""")
    item = use("file", "9", "admin")
    d = ask(e, "a", "add_file_shared_link", item, ancestry=ANC, shared_link_access="open")
    assert d.rule_ids == ("no-public-links",)
    assert "with shared-link access 'open'" in d.reason and "Public links leak documents" in d.reason
    assert ask(e, "a", "add_file_shared_link", item, ancestry=ANC, shared_link_access="company").allowed
    assert ask(e, "a", "get_file_details", use("file", "9"), ancestry=ANC).allowed


def test_forbid_unless_exempts_calls_within_the_limits(make_engine, ask, use):
    e = make_engine("""
agents: {a: {}}
rules:
  - {id: all, effect: permit, agents: a, access: write}
  - id: pdf-only
    effect: forbid
    agents: a
    tools: [upload_file]
    unless: {file_extensions: [pdf], max_upload_bytes: 1000}
""")
    up = use("folder", "5", "write", "parent")
    assert ask(e, "a", "upload_file", up, ancestry=ANC, name="a.pdf", size_bytes=10).allowed
    big = ask(e, "a", "upload_file", up, ancestry=ANC, name="a.pdf", size_bytes=5000)
    assert big.rule_ids == ("pdf-only",) and "only uploads up to 1,000 bytes are exempt" in big.reason
    assert ask(e, "a", "upload_file", up, ancestry=ANC, name="a.doc", size_bytes=10).rule_ids == ("pdf-only",)


def test_require_approval_for_external_invitees(make_engine, ask, use):
    e = make_engine("""
agents: {admin: {}}
rules:
  - {id: all, effect: permit, agents: admin, access: admin}
  - id: external-collab
    effect: require_approval
    agents: admin
    tools: [create_collaboration]
    unless: {invitee_domains: [example.com]}
""")
    item = use("folder", "5", "admin")
    assert ask(e, "admin", "create_collaboration", item, ancestry=ANC, invitee_email="a@example.com").allowed
    d = ask(e, "admin", "create_collaboration", item, ancestry=ANC, invitee_email="a@gmail.com")
    assert d.effect == "approval_required" and d.rule_ids == ("external-collab",)


@pytest.mark.parametrize("bad", ["25 parsecs", "-3", "lots"])
def test_bad_byte_sizes_are_rejected(make_engine, bad):
    from box_mcp.errors import PolicyError

    with pytest.raises(PolicyError, match="max_upload_bytes"):
        make_engine(permit_with(f"{{max_upload_bytes: '{bad}'}}"))
