"""HTML to PDF with WeasyPrint, offline: nothing is fetched from any URL or file.

The HTML of an evidence pack carries values that came from outside (content URLs, appeal
statements). They are escaped, but as a second wall WeasyPrint is given a URL fetcher that
refuses every URL (``http``, ``file``, ``data``...), so no markup that slipped through could make
the renderer call out to a server or read a local file into the pack. The only pictures it draws
are those the caller hands over in memory (``images``, by the exact URL the HTML gives them): a
comparison's figure.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import ImageFile

# WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES to True when it is imported, and
# that would make every later decode in this process (a server's media intake above all)
# accept truncated and corrupt images. Evidence packs draw no image but the PNGs this process
# made (a comparison's figure), so put it back.
_strict_decoding = ImageFile.LOAD_TRUNCATED_IMAGES
from weasyprint import HTML, Attachment  # noqa: E402
from weasyprint.urls import URLFetcher, URLFetcherResponse  # noqa: E402

ImageFile.LOAD_TRUNCATED_IMAGES = _strict_decoding

log = logging.getLogger("deepshield.reports")


class RefusingURLFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that fetches nothing. It answers the URLs of ``images`` with their
    bytes from memory (PNG); for any other URL WeasyPrint skips the resource (an image, a
    stylesheet) and renders on, and the refusal is logged by URL scheme only."""

    def __init__(self, images: Mapping[str, bytes] | None = None) -> None:
        super().__init__(fail_on_errors=False, allowed_protocols=())
        self._images = dict(images or {})

    def fetch(self, url: str, headers: object = None) -> object:
        if url in self._images:
            return URLFetcherResponse(url, self._images[url], {"Content-Type": "image/png"})
        scheme = url.split(":", 1)[0][:16] if ":" in url else "relative"
        log.warning("report rendering refused to fetch a %s resource", scheme)
        raise ValueError("DeepShield reports fetch no external resources")


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF (an evidence pack's machine-readable JSON)."""

    name: str
    data: bytes
    description: str = ""


def render_pdf(html: str, *, attachments: Sequence[PdfAttachment] = (),
               images: Mapping[str, bytes] | None = None) -> bytes:
    """The PDF of ``html`` with ``attachments`` embedded. ``images`` are PNGs by the exact URL an
    ``<img src>`` of ``html`` gives them; nothing else is fetched, and fonts come from the
    system's fontconfig. Raises nothing for markup it cannot use: it renders what it can."""
    fetcher = RefusingURLFetcher(images)
    embedded = [Attachment(file_obj=io.BytesIO(item.data), name=item.name,
                           description=item.description or None, url_fetcher=fetcher)
                for item in attachments]
    document = HTML(string=html, base_url=None, url_fetcher=fetcher)
    pdf: bytes = document.write_pdf(attachments=embedded or None)
    return pdf
