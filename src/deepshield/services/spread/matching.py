"""Use cases: match an upload, a file or explicit signals against every bank."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

from deepshield.media import MediaKind
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.spread.hashing import MediaSignals, hash_media
from deepshield.services.spread.live_index import (
    Match,
    MatchOutcome,
    MatchQuery,
    query_from_signals,
    resolve_on,
)
from deepshield.signals.pdq import require_quality
from deepshield.signals.types import SignalType, normalize_hex_signal, parse_signal_type
from deepshield.signals.vpdq import parse_vpdq

#: The largest query by hash (JSON) a door reads, in bytes: 1,000 PDQ hashes take 100 KB, a vPDQ
#: hash at its frame cap (``signals.vpdq.MAX_VPDQ_FRAMES`` lines) about 9 MB.
MAX_QUERY_BODY_BYTES = 16 * 1024 * 1024


def query_from_media(media: MediaSignals, min_quality: int) -> tuple[MatchQuery, list[str]]:
    """The query for hashed media, and warnings for signals too weak to use.

    A featureless image (PDQ quality below the minimum) is still matched by its exact
    digests, but not perceptually: its PDQ hash would match unrelated images.
    """
    warnings: list[str] = []
    variants: list[tuple[str, str]] = []
    if media.pdq is not None:
        if media.pdq.quality >= min_quality:
            variants = [(name, pdq_hash.hex) for name, pdq_hash in media.pdq_variants]
            # Derived (repost) queries only where they are themselves good enough to match on.
            variants += [(name, pdq_hash.hex) for name, pdq_hash in media.pdq_derived
                         if pdq_hash.quality >= min_quality]
        else:
            warnings.append(
                f"PDQ quality {media.pdq.quality} is below {min_quality}: the image is too "
                "featureless for perceptual matching, so only exact copies are looked for"
            )
    if media.kind is MediaKind.VIDEO and not any(f.quality >= min_quality for f in media.vpdq):
        warnings.append(
            f"no video frame reaches PDQ quality {min_quality}: only exact copies are looked for"
        )
    return MatchQuery(variants, media.md5, media.sha256, media.vpdq), warnings


def parse_query_signals(signals: Sequence[tuple[str, str]], *, qualities: Sequence[int | None] = (),
                        min_quality: int = 0) -> MatchQuery:
    """A query from caller-given ``(type, value)`` pairs; raises ``InvalidSignal`` if malformed.

    ``qualities`` holds each signal's stated PDQ quality (None where unknown); a PDQ hash
    stated below ``min_quality`` raises ``LowQualityHash``, as it does when banking.
    """
    parsed: list[tuple[SignalType, str]] = []
    for position, (name, value) in enumerate(signals):
        signal_type = parse_signal_type(str(name))
        quality = qualities[position] if position < len(qualities) else None
        if signal_type is SignalType.PDQ:
            require_quality(quality, min_quality, f"signal {position + 1}")
        if signal_type is SignalType.VPDQ:
            parse_vpdq(value)  # validates
            parsed.append((signal_type, value))
        else:
            parsed.append((signal_type, normalize_hex_signal(signal_type, value)))
    return query_from_signals(parsed)


def match_query(ctx: ServiceContext, query: MatchQuery, principal: Principal) -> list[Match]:
    """Match a prepared query; the action and the matched entry ids are audit-logged.
    ``Forbidden`` unless ``principal`` may match (``Action.MATCH``)."""
    authorize(principal, Action.MATCH)
    matches = ctx.matcher.match(query)
    ctx.read_audit.record(principal.actor, "match", "", **_match_detail(matches))
    return matches


def _match_detail(matches: list[Match]) -> dict[str, Any]:
    """A match's audit detail: the entries it answered with (ids, never hash values)."""
    return {"matched_entry_ids": [m.entry_id for m in matches]}


#: Up to this many PDQ hashes are searched on the caller's event loop (about 0.1 ms each at
#: a million hashes with the C search, 0.3 ms with the numpy one).
_LOOP_PDQ_QUERIES = 8
#: A lookup that finds the index held waits for it in a worker thread at most this many times
#: before it matches in that thread instead.
_INDEX_WAITS = 3


async def match_query_async(ctx: ServiceContext, query: MatchQuery, principal: Principal) -> list[Match]:
    """``match_query`` for an event loop (the API's hash lookups, hundreds a second).

    The index search is pure CPU (a fraction of a millisecond) and runs on the loop. Hits go to
    the audit writer's thread, which confirms them active in the store and logs the answer in
    the same batch (``AuditGroupCommit.read_and_record_async``): one thread trip per lookup,
    and none of a pool's connections. A due change-feed read still runs in a worker thread.
    The result, the audit record and the authorisation are the same as ``match_query``'s.
    """
    authorize(principal, Action.MATCH)
    matcher = ctx.matcher
    if query.vpdq or len(query.pdq_variants) > _LOOP_PDQ_QUERIES:
        # Video frames or many hashes: more search than a loop should hold up.
        return await asyncio.to_thread(match_query, ctx, query, principal)
    found = matcher.find_in_memory(query)
    for _ in range(_INDEX_WAITS):
        if found is not None:
            break
        # A change-feed read is due, or another thread holds the index (a sync, a video match):
        # wait for it (and sync if due) in a worker thread, then search here. Searching in that
        # thread instead held the index for the search too, and with the GIL shared a search
        # there takes milliseconds: under load every lookup that came meanwhile found the index
        # held and went to a thread as well, and most lookups ran in the pool, searched in
        # turn (2,253 of 5,731 in 10 s at 8 connections, one worker).
        await asyncio.to_thread(matcher.refresh_if_due)
        found = matcher.find_in_memory(query)
    if found is None:  # held every time: the whole match in a thread, as for a video
        matches = await asyncio.to_thread(matcher.match, query)
    elif found:
        return await ctx.read_audit.read_and_record_async(
            principal.actor, "match", "", functools.partial(resolve_on, found=found), _match_detail)
    else:
        matches = []
    await ctx.read_audit.record_async(principal.actor, "match", "", **_match_detail(matches))
    return matches


def match_media(ctx: ServiceContext, data: bytes, principal: Principal) -> tuple[MediaSignals, MatchOutcome]:
    """Hash ``data`` (never stored) and match it; authorised as ``match_query``, before hashing."""
    authorize(principal, Action.MATCH)
    media = hash_media(data, ctx.settings.limits,
                       seconds_per_video_hash=ctx.settings.seconds_per_video_hash,
                       derived_queries=ctx.settings.match.repost_queries)
    query, warnings = query_from_media(media, ctx.settings.match.pdq_min_quality)
    return media, MatchOutcome(match_query(ctx, query, principal), warnings)
