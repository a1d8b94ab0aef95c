"""The demo seed's file contents: small text, Markdown and CSV files and believable PDF and DOCX bytes."""

from __future__ import annotations

import io
import zipfile


def _pdf(title: str, body: str) -> bytes:
    text = f"BT /F1 12 Tf 72 720 Td ({title}) Tj 0 -20 Td ({body}) Tj ET"
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n"
        + f"4 0 obj << /Length {len(text)} >> stream\n{text}\nendstream endobj\n".encode()
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def _docx(text: str) -> bytes:
    buf = io.BytesIO()
    stamp = (2026, 1, 5, 9, 0, 0)  # fixed, so the seed's bytes (and sha1) never change
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (
            (
                "[Content_Types].xml",
                '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                'package/2006/content-types"><Default Extension="xml" '
                'ContentType="application/xml"/></Types>',
            ),
            (
                "word/document.xml",
                f'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                f'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>',
            ),
        ):
            zf.writestr(zipfile.ZipInfo(name, stamp), data)
    return buf.getvalue()


FILES: dict[str, bytes] = {
    "Contracts/MSA-Globex.pdf": _pdf(
        "Master Services Agreement",
        "Acme Corp and Globex Corporation. Term 24 months, value 120000 USD, renewal by notice.",
    ),
    "Contracts/NDA-Initech.pdf": _pdf(
        "Mutual Non-Disclosure Agreement", "Acme Corp and Initech. Confidential information, term 3 years."
    ),
    "Contracts/Inbox/SOW-Umbrella-draft.pdf": _pdf(
        "Statement of Work (draft)", "Umbrella Corp pilot, milestones and acceptance criteria."
    ),
    "Finance/budget-2026.csv": b"department,quarter,budget_usd\nEngineering,Q1,250000\n"
    b"Engineering,Q2,260000\n"
    b"Marketing,Q1,90000\nLegal,Q1,40000\n",
    "Finance/q3-report.md": b"# Q3 report\n\nRevenue grew 12% quarter over quarter. Churn fell to 2.1%.\n"
    b"The Globex renewal closed in September.\n",
    "HR/handbook.md": b"# Employee handbook\n\nVacation policy: 25 days per year. Remote work is welcome.\n"
    b"Expense reports are due within 30 days.\n",
    "HR/salaries.csv": b"employee,title,salary_usd\nAda Admin,IT Director,185000\n"
    b"Bob Builder,Engineer,142000\n"
    b"Carol Counsel,General Counsel,176000\n",
    "HR/Sandbox/onboarding-checklist.md": b"# Onboarding checklist\n\n- laptop\n- badge\n- payroll forms\n",
    "Engineering/README.md": b"# Engineering\n\nHow we build the Acme platform. Start with design.md; "
    b"the deployment runbook lives in notes.txt.\n",
    "Engineering/design.md": b"# Platform design\n\nServices talk over gRPC; the ingestion pipeline uses a "
    b"queue with idempotent consumers. Kubernetes runs everything.\n",
    "Engineering/notes.txt": (
        b"Deployment runbook: blue/green, canary 5% for 30 minutes, then roll forward.\n"
    ),
    "Marketing/launch-plan.docx": _docx(
        "Launch plan for the Acme Rocket: webinar, press release, partner emails."
    ),
}
