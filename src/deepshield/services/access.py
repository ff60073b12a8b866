"""Who may do what: the one table, and the scoping rules.

Every service entry point that acts for someone takes the caller as a ``Principal`` and decides
here (``authorize`` and the scope helpers below), whichever door called it: the CLI passes its
local operator, the API the principal of the key or of the victim's case number and PIN, and
the public doors None where a service is open to everyone. The doors hold no rules of their
own. ``SYSTEM`` is the server's own work (the first admin key ``serve`` makes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deepshield.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"  # runs the installation: banks, keys, everything
    PLATFORM = "platform"  # matches its uploads against the banks
    HELPLINE = "helpline"  # files victims' hashes into banks and withdraws them
    PARTNER = "partner"  # another hash-sharing service: fetches the exchange feed, sends feedback
    PROVIDER = "provider"  # a generative-AI provider: labels its output, registers manifests
    #: A victim following her own case with its case number and PIN; never an API key's role.
    VICTIM = "victim"


#: Roles an API key can hold (a victim holds a case number and PIN instead).
KEY_ROLES = frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE, Role.PARTNER, Role.PROVIDER})


class Action(StrEnum):
    HASH = "hash"
    MATCH = "match"
    #: A scan of an archive against every bank (``deepshield scan``): the platform's and the
    #: operator's, like a match.
    SCAN = "scan"
    BANK_LIST = "bank.list"
    BANK_CREATE = "bank.create"
    BANK_ADD = "bank.add"
    BANK_WITHDRAW = "bank.withdraw"
    BANK_DISABLE = "bank.disable"
    BANK_EXPORT = "bank.export"
    BANK_IMPORT = "bank.import"
    KEYS_MANAGE = "keys.manage"
    WATERMARK_DETECT = "watermark.detect"
    EXCHANGE_FETCH = "exchange.fetch"
    EXCHANGE_FEEDBACK = "exchange.feedback"
    LABEL = "label"  # watermark, sign and register an output
    MANIFEST_WRITE = "manifest.write"  # POST /manifests, POST|PUT /bindings
    VERIFY = "verify"  # a verification report (also open to callers without a key)
    #: A comparison of a file with a suspected source (also open to callers without a key).
    FORENSICS_COMPARE = "forensics.compare"
    #: A search of the registered corpora (the reference library, the content registry) for the
    #: source a suspect file was made from: keys only, never the public.
    SOURCE_SEARCH = "forensics.sources"
    # Takedown cases (issue 6). "platform" is the platform's trust-and-safety reviewer.
    CASE_FILE = "case.file"  # file a takedown request (victims file without a key, at /v1/requests/public)
    CASE_LIST = "case.list"  # the queue and the due list
    CASE_READ = "case.read"  # one case: state, clocks, locations, history (no contact details)
    CASE_READ_CONTACT = "case.read_contact"  # the requester's contact details (PII)
    CASE_UPDATE = "case.update"  # complete an incomplete request (its filer)
    CASE_REVIEW = "case.review"  # acknowledge, pause/resume clocks, decide remove/decline, close
    CASE_APPEAL = "case.appeal"  # file an appeal or a counter-notice
    CASE_APPEAL_DECIDE = "case.appeal_decide"  # decide an appeal (a different reviewer)
    CASE_WITHDRAW = "case.withdraw"  # withdraw a case: its hashes leave every bank
    CASE_LEGAL_HOLD = "case.legal_hold"
    MISUSE_MANAGE = "misuse.manage"  # warn or suspend uploaders and reporters
    CONTENT_REGISTER = "content.register"  # the platform registers its content by hash
    CONTENT_SWEEP = "content.sweep"  # the items a removal's sweep listed for action
    REPORT_EVIDENCE = "report.evidence"  # a case's evidence pack (PDF), scoped like the case
    #: An evidence pack of any uploaded file, signed by the installation: keys only. A victim's
    #: case number and PIN reach her case's pack, never the installation's signature on
    #: arbitrary files.
    REPORT_FILE = "report.file"
    REPORT_TRANSPARENCY = "report.transparency"  # aggregate counts, no case details
    AUDIT_VERIFY = "audit.verify"  # check the audit log's hash chain
    NOTIFICATIONS_MANAGE = "notifications.manage"  # see and deliver the outbox


_ALLOWED: dict[Action, frozenset[Role]] = {
    Action.HASH: KEY_ROLES,
    Action.MATCH: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE}),
    Action.SCAN: frozenset({Role.ADMIN, Role.PLATFORM}),
    Action.BANK_LIST: KEY_ROLES,
    Action.BANK_CREATE: frozenset({Role.ADMIN}),
    Action.BANK_ADD: frozenset({Role.ADMIN, Role.HELPLINE}),
    Action.BANK_WITHDRAW: frozenset({Role.ADMIN, Role.HELPLINE}),
    Action.BANK_DISABLE: frozenset({Role.ADMIN}),
    # Hashes can be inverted into images: bulk reads stay with the operator.
    Action.BANK_EXPORT: frozenset({Role.ADMIN}),
    Action.BANK_IMPORT: frozenset({Role.ADMIN}),
    Action.KEYS_MANAGE: frozenset({Role.ADMIN}),
    Action.WATERMARK_DETECT: KEY_ROLES,
    # The exchange hands out every bank's hashes in bulk: partners (and the operator) only.
    Action.EXCHANGE_FETCH: frozenset({Role.ADMIN, Role.PARTNER}),
    Action.EXCHANGE_FEEDBACK: frozenset({Role.PARTNER}),
    Action.LABEL: frozenset({Role.ADMIN, Role.PROVIDER}),
    Action.MANIFEST_WRITE: frozenset({Role.ADMIN, Role.PROVIDER}),
    Action.VERIFY: KEY_ROLES,
    Action.FORENSICS_COMPARE: KEY_ROLES,
    # Says which reference and which registered item a file comes from: those who keep or match
    # against them. The content registry's part answers only to CONTENT_SWEEP's roles
    # (services.verify.source_search).
    Action.SOURCE_SEARCH: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE}),
    Action.CASE_FILE: frozenset({Role.ADMIN, Role.HELPLINE}),
    Action.CASE_LIST: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE}),
    Action.CASE_READ: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE, Role.VICTIM}),
    Action.CASE_READ_CONTACT: frozenset({Role.ADMIN}),
    Action.CASE_UPDATE: frozenset({Role.ADMIN, Role.HELPLINE, Role.VICTIM}),
    Action.CASE_REVIEW: frozenset({Role.ADMIN, Role.PLATFORM}),
    Action.CASE_APPEAL: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE, Role.VICTIM}),
    Action.CASE_APPEAL_DECIDE: frozenset({Role.ADMIN, Role.PLATFORM}),
    Action.CASE_WITHDRAW: frozenset({Role.ADMIN, Role.HELPLINE, Role.VICTIM}),
    Action.CASE_LEGAL_HOLD: frozenset({Role.ADMIN}),
    Action.MISUSE_MANAGE: frozenset({Role.ADMIN, Role.PLATFORM}),
    Action.CONTENT_REGISTER: frozenset({Role.ADMIN, Role.PLATFORM}),
    Action.CONTENT_SWEEP: frozenset({Role.ADMIN, Role.PLATFORM}),
    Action.REPORT_EVIDENCE: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE, Role.VICTIM}),
    Action.REPORT_FILE: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE}),
    Action.REPORT_TRANSPARENCY: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE}),
    Action.AUDIT_VERIFY: frozenset({Role.ADMIN}),
    Action.NOTIFICATIONS_MANAGE: frozenset({Role.ADMIN}),
}


@dataclass(frozen=True)
class Principal:
    """Whoever is acting: an API key, or the local operator at the CLI (``cli:<user>``)."""

    actor: str
    role: Role
    #: A victim's principal reaches only her own case: its case number.
    case_number: str | None = None


#: The installation acting for itself, not for a caller: the first admin key ``serve`` makes.
#: It holds the operator's rights; audit rows name it ``system``. Never a door's principal.
SYSTEM = Principal(actor="system", role=Role.ADMIN)

#: The audit actor of a caller without a key at a public door (a ``None`` principal).
PUBLIC_ACTOR = "public"


def actor_of(principal: Principal | None) -> str:
    """The audit actor of ``principal``: its own, or ``PUBLIC_ACTOR`` for the public (None)."""
    return principal.actor if principal is not None else PUBLIC_ACTOR


def roles_for(action: Action) -> frozenset[Role]:
    """The roles that may perform ``action``."""
    return _ALLOWED[action]


def authorize(principal: Principal, action: Action) -> None:
    """Raise ``Forbidden`` unless ``principal``'s role may perform ``action``."""
    if principal.role not in _ALLOWED[action]:
        raise Forbidden(f"the {principal.role.value} role may not perform {action.value}")


# --- Scope: which cases and bank entries a caller may act on -------------------------------------
#
# The role table above says what kind of act a role may do; these rules say on what. They are
# the only scoping rules: the case services (``takedown.case_lookup.visible``), the bank service and the
# evidence packs all ask here. Whatever a caller may not act on is answered by the services
# exactly like something that does not exist (404), so probing ids or numbers learns nothing.


#: The one answer for a case that does not exist or is not the caller's to see (cases, and bank
#: entries or references naming a case), so probing learns nothing.
NOT_VISIBLE = "no case with that number is visible to you"


def case_in_scope(principal: Principal, *, case_number: str, filed_by: str) -> bool:
    """Whether ``principal`` may see and act on the case ``case_number`` filed by ``filed_by``
    (an actor): a victim her own case, a helpline the cases it filed, the platform's reviewers
    and the operator every case. Other roles none. (What it may do there is ``authorize``'s.)"""
    if principal.role is Role.VICTIM:
        return principal.case_number is not None and principal.case_number == case_number
    if principal.role is Role.HELPLINE:
        return filed_by == principal.actor
    return principal.role in (Role.ADMIN, Role.PLATFORM)


def may_write_bank(principal: Principal, *, system_bank: bool) -> bool:
    """Whether ``principal`` may add entries to a bank. The system banks (the takedown workflow's
    reports and block banks) are written by the case workflow and, by hand, by the operator only:
    an entry there blocks uploads, or is copied into the block bank on a removal."""
    return principal.role is Role.ADMIN or not system_bank


def may_change_entry(principal: Principal, *, system_bank: bool, added_by: str,
                     of_case_in_scope: bool) -> bool:
    """Whether ``principal`` may withdraw (or disable) a bank entry: the operator any entry;
    anyone else only an entry outside the system banks that it added itself, or that belongs
    to a case in its scope (``of_case_in_scope``). A system bank's entries change only through
    the case workflow (a withdrawal, an overturned removal) or by the operator."""
    if principal.role is Role.ADMIN:
        return True
    if system_bank:
        return False
    return added_by == principal.actor or of_case_in_scope
