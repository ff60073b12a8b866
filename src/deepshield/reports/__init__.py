"""Evidence packs and the transparency report.

* ``evidence``: an ``EvidencePack`` (plain values, built by ``services.reporting``) rendered as
  escaped HTML, and as the JSON that travels inside the PDF.
* ``pdf``: HTML to PDF with WeasyPrint, fetching nothing from any network or file.
* ``pdf_signing``: the PDF signed (PAdES, pyHanko) so that any change shows, and the check of it.
* ``transparency``: aggregate counts from plain records, as a dict, CSV or JSON.

This room knows nothing of HTTP, the CLI or the store: it takes plain values and returns bytes.
``pdf`` and ``pdf_signing`` load WeasyPrint and pyHanko (seconds on a busy machine), so this package
imports them only when one of their names is first used: a CLI command or a server start that
makes no report does not pay for them.
"""

from typing import Any

from deepshield.reports.evidence import (
    AppealLine,
    ChainHead,
    ClockLine,
    ComparedFrameLine,
    ComparisonLine,
    DecisionLine,
    EvidencePack,
    HashLine,
    HistoryLine,
    LocationLine,
    MediaLine,
    RegionLine,
    TimestampLine,
    VerificationLine,
    render_html,
)

_LAZY = {"PdfAttachment": "pdf", "render_pdf": "pdf", "ReportCheck": "pdf_signing",
         "check_pdf": "pdf_signing", "sign_pdf": "pdf_signing"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"deepshield.reports.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'deepshield.reports' has no attribute {name!r}")


__all__ = [
    "AppealLine",
    "ChainHead",
    "ClockLine",
    "ComparedFrameLine",
    "ComparisonLine",
    "DecisionLine",
    "EvidencePack",
    "HashLine",
    "HistoryLine",
    "LocationLine",
    "MediaLine",
    "PdfAttachment",
    "RegionLine",
    "ReportCheck",
    "TimestampLine",
    "VerificationLine",
    "check_pdf",
    "render_html",
    "render_pdf",
    "sign_pdf",
]
