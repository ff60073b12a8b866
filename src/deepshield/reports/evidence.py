"""The evidence pack: what a victim hands to the police or a platform, as plain values and as HTML.

An ``EvidencePack`` holds only plain values (strings, numbers, UTC datetimes) that
``services.reporting`` gathered: a case's state, clocks, decision, appeals and history, or a
file's hashes and verification result. It holds no picture, except, when the caller compared the
file with a suspected source, that comparison's figure (``ComparisonLine.figure_png``), which
only the PDF draws. ``render_html`` escapes every value it prints (a URL, an appeal statement or
a reason is text, never markup), links nothing and loads nothing but that figure, which the PDF
renderer is handed in memory (``EvidencePack.images``), so the PDF made from it depends on
nothing outside it. ``to_dict`` is the same content as JSON-ready values: the machine-readable
copy embedded in the signed PDF (the figure is named there by its SHA-256, not copied).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from typing import Any

#: Printed on every pack. A verifier's "unknown" is the absence of a label, not proof of anything.
MISSING_LABEL_NOTICE = "A missing label means unknown, never authentic."
#: The law treats a real and a fake intimate image alike for removal (docs: cases-and-law).
SAME_TREATMENT_NOTICE = (
    "Real and fake (AI-made) intimate images are treated the same: under US, UK and Australian law "
    "both must come down, and whether an image is AI-made is context and evidence only."
)
NO_PICTURE_NOTICE = (
    "This pack holds no picture. The content is identified by its hashes (fingerprints) below, "
    "which match copies of it without showing it."
)
#: Said instead of ``NO_PICTURE_NOTICE`` on a pack that carries a comparison's figure.
FIGURE_NOTICE = (
    "This pack holds one picture: the comparison figure, which shows the file and the suspected "
    "source side by side. DeepShield keeps neither file nor the figure. Otherwise the content is "
    "identified by its hashes (fingerprints) below, which match copies of it without showing it."
)
#: Where ``render_html`` places the comparison's figure: not a URL anything is fetched from, but
#: the name under which ``EvidencePack.images`` hands the PNG to the PDF renderer.
COMPARISON_FIGURE_URL = "deepshield-pack-image:comparison-figure.png"
#: The name of the machine-readable copy (``EvidencePack.to_json``) attached inside the PDF.
EVIDENCE_ATTACHMENT = "evidence.json"
#: How much of an audit event's chain hash the pack prints; `deepshield audit verify` checks them.
CHAIN_HASH_PREFIX = 16
#: A multi-line hash value (a video's vPDQ, one line per frame) prints this many lines.
MAX_PRINTED_LINES = 24


@dataclass(frozen=True)
class TimestampLine:
    label: str  # e.g. "received", "complete", "due"
    at: datetime | None


@dataclass(frozen=True)
class LocationLine:
    kind: str  # url / item
    location: str
    status: str  # pending / removed / declined / not_found


@dataclass(frozen=True)
class HashLine:
    """One hash of the content: its type (pdq, md5, sha256, vpdq...) and value, as evidence."""

    signal_type: str
    value: str
    quality: int | None = None
    origin: str | None = None  # where it came from: victim_device, helpline, platform, import
    note: str = ""  # e.g. "frame 12 at 11.0 s" for one frame of a video


@dataclass(frozen=True)
class ClockLine:
    jurisdiction: str
    duty: str
    started_at: datetime
    due_at: datetime
    met_at: datetime | None = None
    escalated_at: datetime | None = None
    breached_at: datetime | None = None
    paused: bool = False

    @property
    def outcome(self) -> str:
        """``met``, ``breached``, ``met late`` (done after the deadline), ``paused`` or ``open``."""
        if self.breached_at is not None:
            return "met late" if self.met_at is not None else "breached"
        if self.met_at is not None:
            return "met"
        return "paused" if self.paused else "open"


@dataclass(frozen=True)
class DecisionLine:
    decision: str  # removed / declined
    reasons: str
    decided_by: str | None
    automated: bool | None
    decided_at: datetime | None


@dataclass(frozen=True)
class AppealLine:
    kind: str  # appeal / counter_notice
    filed_by_party: str  # requester / uploader
    filed_at: datetime
    statement: str
    reviewer: str | None = None
    outcome: str | None = None  # upheld / overturned; None while pending
    outcome_reasons: str | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True)
class HistoryLine:
    """One audit event about the case. ``chain_hash`` is the event's hash in the audit chain;
    ``chain_ok`` says whether it still recomputes from the event's stored fields."""

    seq: int
    at: datetime
    actor: str
    action: str
    automated: bool
    detail: dict[str, Any] = field(default_factory=dict)
    chain_hash: str = ""
    chain_ok: bool | None = None


@dataclass(frozen=True)
class ChainHead:
    """The audit chain's newest event when the pack was made (write it down elsewhere to anchor it)."""

    seq: int
    hash: str


@dataclass(frozen=True)
class VerificationLine:
    """What `deepshield verify` found for a file: the verdict, why, and who made it."""

    verdict: str  # verified / recovered / invalid / unknown
    summary: str
    reasons: list[str] = field(default_factory=list)
    signer: str | None = None
    generator: str | None = None
    model: str | None = None
    created_at: str | None = None  # as the label states it
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegionLine:
    """A region of the file that differs from the suspected source: its box in the file's pixels
    (x, y, width, height), its share of the overlap, and its mean difference over the noise that
    reposting makes."""

    box: tuple[int, int, int, int]
    area: float
    strength: float


@dataclass(frozen=True)
class ComparedFrameLine:
    """A video's frame compared with the source frame shown at the same moment (seconds)."""

    suspect_time_s: float
    source_time_s: float | None
    outcome: str
    regions: int


@dataclass(frozen=True)
class ComparisonLine:
    """The file compared with a suspected source (``forensics compare``): the outcome and its
    sentence, the numbers behind it, the method and its version, and the known limits. The source
    appears only by its file name and SHA-256, and inside the figure."""

    outcome: str  # derived_local_difference / derived_no_difference / not_derived / inconclusive
    summary: str
    method: str
    source_sha256: str
    source_name: str | None = None
    inliers: int | None = None
    matches: int | None = None
    mirrored: bool | None = None
    overlap: float | None = None
    agreement: float | None = None
    correlation: float | None = None
    noise_floor: float | None = None
    regions: list[RegionLine] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    #: Every number the method gave (``Comparison.to_dict``), for the JSON copy.
    numbers: dict[str, Any] = field(default_factory=dict)
    kind: str = "image"  # image / video
    #: A video: where the file starts in the source (source time = file time + offset), the share
    #: of its frames whose hash agrees there, and each frame compared.
    offset_s: float | None = None
    matched_share: float | None = None
    frames: list[ComparedFrameLine] = field(default_factory=list)
    #: The figure (PNG): drawn in the PDF, kept out of the JSON copy (which has its SHA-256).
    figure_png: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MediaLine:
    kind: str  # image / video
    format: str
    size_bytes: int
    width: int
    height: int
    duration_s: float | None = None
    frames_hashed: int | None = None  # video: frames with a vPDQ hash
    unique_frames: int | None = None  # video: distinct good-quality frame hashes


@dataclass(frozen=True)
class EvidencePack:
    """Everything one pack shows. ``kind`` is ``case`` (a takedown case) or ``file`` (one file)."""

    kind: str
    title: str
    generated_at: datetime
    generator: str  # "DeepShield <version>"
    case_number: str | None = None
    state: str | None = None
    requester_role: str | None = None
    jurisdictions: list[str] = field(default_factory=list)
    legal_hold: bool | None = None
    #: Only when an admin asked for it (``include_contact``): signature name and email.
    contact: dict[str, str] | None = None
    timestamps: list[TimestampLine] = field(default_factory=list)
    locations: list[LocationLine] = field(default_factory=list)
    hashes: list[HashLine] = field(default_factory=list)
    clocks: list[ClockLine] = field(default_factory=list)
    decision: DecisionLine | None = None
    appeals: list[AppealLine] = field(default_factory=list)
    history: list[HistoryLine] = field(default_factory=list)
    chain_head: ChainHead | None = None
    media: MediaLine | None = None
    verification: VerificationLine | None = None
    comparison: ComparisonLine | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def notices(self) -> list[str]:
        """The notices printed at the top of the pack."""
        figure = self.comparison is not None and self.comparison.figure_png is not None
        return [MISSING_LABEL_NOTICE, SAME_TREATMENT_NOTICE, FIGURE_NOTICE if figure else NO_PICTURE_NOTICE]

    def images(self) -> dict[str, bytes]:
        """The pictures ``render_html`` places, by the URL it gives them: what the PDF renderer
        may draw (``reports.pdf.render_pdf``'s ``images``), and nothing else."""
        if self.comparison is None or self.comparison.figure_png is None:
            return {}
        return {COMPARISON_FIGURE_URL: self.comparison.figure_png}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (datetimes as ISO 8601 UTC): the copy embedded in the PDF."""
        figure = self.comparison.figure_png if self.comparison is not None else None
        view = _plain(asdict(replace(self, comparison=replace(self.comparison, figure_png=None))
                          if self.comparison is not None else self))
        view["clocks"] = [{**line, "outcome": clock.outcome}
                          for line, clock in zip(view["clocks"], self.clocks, strict=True)]
        if view["comparison"] is not None:
            del view["comparison"]["figure_png"]
            view["comparison"]["figure_sha256"] = hashlib.sha256(figure).hexdigest() if figure else None
        view["notices"] = self.notices
        return view

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # the store hands out aware datetimes; a naive one is taken as UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat()


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
@page { size: A4; margin: 18mm 16mm 20mm 16mm;
        @bottom-left { content: "DeepShield evidence pack"; font-family: "DejaVu Sans", sans-serif;
                       font-size: 8pt; color: #444; }
        @bottom-right { content: "Page " counter(page) " of " counter(pages);
                        font-family: "DejaVu Sans", sans-serif; font-size: 8pt; color: #444; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9.5pt; color: #000; line-height: 1.35; }
h1 { font-size: 17pt; margin: 0 0 4pt 0; }
h2 { font-size: 12pt; margin: 14pt 0 4pt 0; border-bottom: 1pt solid #000; padding-bottom: 2pt; }
p { margin: 3pt 0; }
table { border-collapse: collapse; width: 100%; margin: 2pt 0 4pt 0; }
th, td { border: 0.5pt solid #888; padding: 2pt 4pt; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
table.history { table-layout: fixed; font-size: 8pt; }
table.history td { overflow-wrap: anywhere; }
table.history td.detail { font-size: 7.5pt; }
th { background: #e8e8e8; font-weight: bold; }
table.facts th { width: 30%; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; word-break: break-all; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt; word-break: break-all; }
.notice { border: 1.5pt solid #000; padding: 5pt 7pt; margin: 8pt 0; }
.notice p { margin: 2pt 0; font-weight: bold; }
.meta { color: #222; }
.none { color: #444; }  /* no italic: one font fewer to subset and embed */
.figure { margin: 4pt 0; page-break-inside: avoid; }
.figure img { width: 100%; border: 0.5pt solid #888; }
.figure p { font-size: 8.5pt; }
"""

_DASH = "\u2014"


def _e(value: object) -> str:
    """Escape any value for HTML text or an attribute; None prints as a dash."""
    if value is None:
        return _DASH
    return escape(str(value), quote=True)


def _when(at: datetime | None) -> str:
    if at is None:
        return _DASH
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return escape(at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return _DASH if value is None else (yes if value else no)


def _table(headers: list[str], rows: list[list[str]], *, empty: str, css_class: str = "",
           widths: list[int] | None = None, last_class: str = "") -> str:
    """A table of already escaped cells, or a grey line saying there is nothing. ``widths``
    are column widths in percent (for a fixed layout)."""
    if not rows:
        return f'<p class="none">{_e(empty)}</p>'
    columns = "".join(f'<col style="width: {width}%">' for width in widths or [])
    head = "".join(f"<th>{_e(name)}</th>" for name in headers)
    last = f' class="{last_class}"' if last_class else ""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row[:-1])
                   + f"<td{last}>{row[-1]}</td></tr>" for row in rows)
    table_class = f' class="{css_class}"' if css_class else ""
    return (f"<table{table_class}><colgroup>{columns}</colgroup><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _facts(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(name)}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="facts"><tbody>{body}</tbody></table>'


def _detail_text(detail: dict[str, Any]) -> str:
    parts = []
    for key in sorted(detail):
        value = detail[key]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        parts.append(f"{key}={text}")
    return "; ".join(parts)


def _summary_section(pack: EvidencePack) -> str:
    rows: list[tuple[str, str]] = []
    if pack.kind == "case":
        rows += [
            ("Case number", _e(pack.case_number)),
            ("State", _e(pack.state)),
            ("Requester role", _e(pack.requester_role)),
            ("Jurisdictions", _e(", ".join(pack.jurisdictions) or "none answered")),
            ("Legal hold", _yes_no(pack.legal_hold)),
        ]
        if pack.contact is not None:
            rows += [(f"Contact: {name.replace('_', ' ')}", _e(value or _DASH))
                     for name, value in pack.contact.items()]
        else:
            rows.append(("Contact details", '<span class="none">not included (personal data; '
                         "an administrator can include them)</span>"))
    if pack.media is not None:
        media = pack.media
        rows += [
            ("Kind", _e(media.kind)),
            ("Format", _e(media.format)),
            ("Size", _e(f"{media.size_bytes:,} bytes")),
            ("Dimensions", _e(f"{media.width} x {media.height} pixels")),
        ]
        if media.duration_s is not None:
            rows.append(("Duration", _e(f"{media.duration_s:.1f} s")))
        if media.frames_hashed is not None:
            rows.append(("Video frames hashed (vPDQ)",
                         _e(f"{media.frames_hashed} ({media.unique_frames} distinct)")))
    if not rows:
        return ""
    heading = "Case" if pack.kind == "case" else "File"
    return f"<h2>{heading}</h2>" + _facts(rows)


def _hashes_section(pack: EvidencePack) -> str:
    rows = []
    for line in pack.hashes:
        # A video's vPDQ is one line per sampled frame: the first ones are printed, all are in
        # the embedded JSON.
        parts = line.value.splitlines() or [""]
        printed = "<br>".join(_e(part) for part in parts[:MAX_PRINTED_LINES])
        value = f'<span class="hash">{printed}</span>'
        if len(parts) > MAX_PRINTED_LINES:
            value += f"<br>{_e(f'... and {len(parts) - MAX_PRINTED_LINES} more (all in evidence.json)')}"
        if line.note:
            value += f"<br>{_e(line.note)}"
        rows.append([_e(line.signal_type.upper()), value, _e(line.quality), _e(line.origin)])
    intro = ("<p>Hashes identify the content and its copies without showing it: PDQ (perceptual, "
             "matches re-encoded and resized copies), MD5 and SHA-256 (this exact file).</p>")
    return ("<h2>Hashes</h2>" + intro
            + _table(["Type", "Value", "Quality", "Origin"], rows, empty="No hashes are on record."))


def _case_sections(pack: EvidencePack) -> str:
    parts = ["<h2>Timestamps</h2>",
             _facts([(line.label.capitalize(), _when(line.at)) for line in pack.timestamps])]
    parts.append("<h2>Content locations</h2>")
    parts.append(_table(["Kind", "Location", "Status"],
                        [[_e(line.kind), f'<span class="mono">{_e(line.location)}</span>', _e(line.status)]
                         for line in pack.locations],
                        empty="No locations were given."))
    parts.append(_hashes_section(pack))
    parts.append("<h2>Legal clocks</h2>")
    parts.append(_table(
        ["Jurisdiction", "Duty", "Started", "Due", "Met", "Breached", "Outcome"],
        [[_e(clock.jurisdiction), _e(clock.duty), _when(clock.started_at), _when(clock.due_at),
          _when(clock.met_at), _when(clock.breached_at), _e(clock.outcome)] for clock in pack.clocks],
        empty="No clock has started (a clock starts only when the request is complete)."))
    parts.append("<h2>Decision</h2>")
    if pack.decision is None:
        parts.append('<p class="none">No decision has been made yet.</p>')
    else:
        decision = pack.decision
        parts.append(_facts([
            ("Decision", _e(decision.decision)),
            ("Reasons", _e(decision.reasons)),
            ("Decided by", _e(decision.decided_by)),
            ("Made by", _yes_no(decision.automated, "the system (automated)", "a person (human review)")),
            ("Decided at", _when(decision.decided_at)),
        ]))
    parts.append("<h2>Appeals and counter-notices</h2>")
    if not pack.appeals:
        parts.append('<p class="none">No appeal or counter-notice was filed.</p>')
    # One table per appeal: a statement needs the page's width to stay readable.
    for appeal in pack.appeals:
        parts.append(_facts([
            ("Kind", _e(appeal.kind.replace("_", "-"))),
            ("Filed by", _e(appeal.filed_by_party)),
            ("Filed", _when(appeal.filed_at)),
            ("Statement", _e(appeal.statement)),
            ("Reviewer", _e(appeal.reviewer)),
            ("Outcome", _e(appeal.outcome or "pending")),
            ("Outcome reasons", _e(appeal.outcome_reasons)),
            ("Decided", _when(appeal.decided_at)),
        ]))
    return "".join(parts)


def _verification_section(verification: VerificationLine) -> str:
    rows = [
        ("Verdict", f"<strong>{_e(verification.verdict)}</strong>"),
        ("Summary", _e(verification.summary)),
        ("Signer", _e(verification.signer)),
        ("Generator", _e(verification.generator)),
        ("Model", _e(verification.model)),
        ("Created (as labelled)", _e(verification.created_at)),
    ]
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in verification.reasons)
    warnings = "".join(f"<li>{_e(warning)}</li>" for warning in verification.warnings)
    return ("<h2>Label verification</h2>"
            "<p>Checked for Content Credentials (C2PA), the DeepShield watermark and the manifest "
            "repository, as <span class=\"mono\">deepshield verify</span> does.</p>"
            + _facts(rows)
            + (f"<p><strong>Reasons</strong></p><ul>{reasons}</ul>" if reasons else "")
            + (f"<p><strong>Warnings</strong></p><ul>{warnings}</ul>" if warnings else ""))


def _share(value: float | None) -> str:
    return _DASH if value is None else _e(f"{value:.1%}")


def _number(value: float | None, digits: int = 2) -> str:
    return _DASH if value is None else _e(f"{value:.{digits}f}")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return _DASH
    minutes, rest = divmod(max(0.0, seconds), 60)
    return _e(f"{int(minutes)}:{rest:06.3f}")


def _video_numbers(comparison: ComparisonLine) -> str:
    numbers = _facts([
        ("Where the file starts in the source (source time = file time + this)", _clock(comparison.offset_s)),
        ("Share of the file's frames whose hash agrees with the source's there",
         _share(comparison.matched_share)),
        ("Source mirrored", _yes_no(comparison.mirrored)),
        ("Frames compared pixel for pixel", _e(len(comparison.frames))),
    ])
    frames = _table(
        ["File time", "Source time", "Outcome", "Regions that differ"],
        [[_clock(frame.suspect_time_s), _clock(frame.source_time_s), _e(frame.outcome), _e(frame.regions)]
         for frame in comparison.frames],
        empty="No frame could be compared.")
    return ("<p><strong>Numbers</strong></p>" + numbers
            + "<p><strong>Frames compared</strong></p>" + frames)


def _comparison_section(comparison: ComparisonLine) -> str:
    rows = [
        ("Outcome", f"<strong>{_e(comparison.outcome)}</strong>"),
        ("Summary", _e(comparison.summary)),
        ("Source file name", _e(comparison.source_name or "not given")),
        ("Source SHA-256", f'<span class="hash">{_e(comparison.source_sha256)}</span>'),
        ("Method", f'<span class="mono">{_e(comparison.method)}</span>'),
    ]
    caption = ("The figure: the file, the source laid onto it, their difference (blue: within what "
               "reposting changes; red: far beyond) and the file with the differing regions outlined.")
    if comparison.kind == "video":
        caption = ("The figure: each frame compared, with its outcome and the moment it shows in both files "
                   "(file time = source time), above the four panels of the frame that differs most (the "
                   "frame, the source frame laid onto it, their difference, the regions outlined).")
    if comparison.figure_png is not None:
        figure = ('<div class="figure">'
                  f'<img src="{_e(COMPARISON_FIGURE_URL)}" alt="The comparison figure">'
                  f"<p>{_e(caption)}</p></div>")
    else:
        figure = '<p class="none">No figure: the source could not be laid onto the file.</p>'
    inliers = _DASH if comparison.inliers is None else _e(
        f"{comparison.inliers}" + (f" of {comparison.matches} matched" if comparison.matches else ""))
    numbers = _facts([
        ("Features agreeing on one geometry (inliers)", inliers),
        ("Source mirrored", _yes_no(comparison.mirrored)),
        ("Overlap (share of the file the source covers)", _share(comparison.overlap)),
        ("Agreement (share of the overlap outside the regions that agrees)", _share(comparison.agreement)),
        ("Correlation of the two pictures' detail outside the regions", _number(comparison.correlation, 3)),
        ("Noise floor (expected difference from reposting)", _number(comparison.noise_floor)),
    ])
    regions = _table(
        ["#", "Box (x, y, width, height; file pixels)", "Area (share of the overlap)",
         "Strength (times the repost noise)"],
        [[_e(index), _e(", ".join(str(part) for part in region.box)), _share(region.area),
          _number(region.strength, 1)] for index, region in enumerate(comparison.regions, 1)],
        empty="No region differs beyond what reposting changes.")
    limits = "".join(f"<li>{_e(limit)}</li>" for limit in comparison.limits)
    details = ("<p><strong>Numbers</strong></p>" + numbers + "<p><strong>Regions that differ</strong></p>"
               + regions) if comparison.kind != "video" else _video_numbers(comparison)
    return ("<h2>Comparison with a suspected source</h2>"
            "<p>The file was compared with a picture or video it may have been made from (the suspected "
            "source), given by whoever asked for this pack. The comparison reports differences "
            "from this one source only.</p>"
            + _facts(rows) + figure + details
            + (f"<p><strong>Known limits of the method</strong></p><ul>{limits}</ul>" if limits else ""))


def _history_section(pack: EvidencePack) -> str:
    rows = []
    for line in pack.history:
        prefix = line.chain_hash[:CHAIN_HASH_PREFIX]
        check = "" if line.chain_ok is None else (" (recomputes)" if line.chain_ok else
                                                  " (DOES NOT RECOMPUTE: altered)")
        rows.append([_e(line.seq), _when(line.at), _e(line.actor), _e(line.action),
                     "automated" if line.automated else "human",
                     f'<span class="mono">{_e(prefix)}</span>{_e(check)}',
                     _e(_detail_text(line.detail))])
    intro = ("<p>From the append-only, hash-chained audit log. Each event's chain hash (first "
             f"{CHAIN_HASH_PREFIX} hex digits) can be cross-checked with "
             '<span class="mono">deepshield audit verify</span>.</p>')
    table = _table(["#", "When", "Actor", "Action", "By", "Chain hash", "Detail"], rows,
                   empty="No events are recorded for this case.", css_class="history",
                   widths=[4, 13, 12, 13, 12, 16, 30], last_class="detail")
    head = ""
    if pack.chain_head is not None:
        head = (f"<p>Audit chain head when this pack was made: event {_e(pack.chain_head.seq)}, hash "
                f'<span class="mono">{_e(pack.chain_head.hash)}</span></p>')
    return "<h2>Case history</h2>" + intro + table + head


def render_html(pack: EvidencePack) -> str:
    """The pack as a self-contained HTML document: every value escaped, no links, no external
    resources (fonts come from the system), no image but a comparison's figure, placed at
    ``COMPARISON_FIGURE_URL`` (see ``EvidencePack.images``). Sections appear in a fixed order."""
    header = [f"<h1>{_e(pack.title)}</h1>",
              f'<p class="meta">Generated {_when(pack.generated_at)} by {_e(pack.generator)}</p>']
    if pack.case_number:
        header.append(f'<p class="meta">Case number <strong>{_e(pack.case_number)}</strong></p>')
    notice = '<div class="notice">' + "".join(f"<p>{_e(line)}</p>" for line in pack.notices) + "</div>"
    body = [*header, notice, _summary_section(pack)]
    if pack.kind == "case":
        body.append(_case_sections(pack))
    else:
        body.append(_hashes_section(pack))
    if pack.verification is not None:
        body.append(_verification_section(pack.verification))
    if pack.comparison is not None:
        body.append(_comparison_section(pack.comparison))
    if pack.kind == "case":
        body.append(_history_section(pack))
    if pack.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(note)}</li>" for note in pack.notes)
                    + "</ul>")
    body.append('<h2>Checking this document</h2><p>This PDF is signed. Run '
                '<span class="mono">deepshield report check FILE.pdf</span> to confirm that it is '
                "unchanged and was signed by a trusted DeepShield installation. A machine-readable "
                "copy of its contents is attached as evidence.json.</p>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(pack.title)}</title>"
            f'<meta name="generator" content="{_e(pack.generator)}">'
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>")
