"""HTML to PDF with WeasyPrint, offline: nothing is fetched from any URL or file.

The HTML of an evidence pack carries values that came from outside (content URLs, appeal
statements). They are escaped, but as a second wall WeasyPrint is given a URL fetcher that
refuses every URL (``http``, ``file``, ``data``...), so no markup that slipped through could make
the renderer call out to a server or read a local file into the pack.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import ImageFile

# WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES to True when it is imported, and
# that would make every later decode in this process (a server's media intake above all)
# accept truncated and corrupt images. Evidence packs draw no images, so put it back.
_strict_decoding = ImageFile.LOAD_TRUNCATED_IMAGES
from weasyprint import HTML, Attachment  # noqa: E402
from weasyprint.urls import URLFetcher  # noqa: E402

ImageFile.LOAD_TRUNCATED_IMAGES = _strict_decoding

log = logging.getLogger("deepshield.reports")


class RefusingURLFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that fetches nothing. WeasyPrint skips the resource (an image,
    a stylesheet) and renders on; the refusal is logged by URL scheme only."""

    def __init__(self) -> None:
        super().__init__(fail_on_errors=False, allowed_protocols=())

    def fetch(self, url: str, headers: object = None) -> object:
        scheme = url.split(":", 1)[0][:16] if ":" in url else "relative"
        log.warning("report rendering refused to fetch a %s resource", scheme)
        raise ValueError("DeepShield reports fetch no external resources")


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF (an evidence pack's machine-readable JSON)."""

    name: str
    data: bytes
    description: str = ""


def render_pdf(html: str, *, attachments: Sequence[PdfAttachment] = ()) -> bytes:
    """The PDF of ``html`` with ``attachments`` embedded. Fetches nothing; fonts come from the
    system's fontconfig. Raises nothing for markup it cannot use: it renders what it can."""
    fetcher = RefusingURLFetcher()
    embedded = [Attachment(file_obj=io.BytesIO(item.data), name=item.name,
                           description=item.description or None, url_fetcher=fetcher)
                for item in attachments]
    document = HTML(string=html, base_url=None, url_fetcher=fetcher)
    pdf: bytes = document.write_pdf(attachments=embedded or None)
    return pdf
