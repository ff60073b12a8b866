"""Fuzz the signal parsers: ``deepshield.signals.types`` (``parse_signal_type``,
``normalize_hex_signal``, ``parse_signal_spec``) and ``deepshield.signals.pdq`` (``parse_pdq_hex``,
``pdq_hex_to_bytes``, ``pdq_distance``) on any text."""

from __future__ import annotations

import contextlib

from _common import instrumented

with instrumented():
    from deepshield.errors import DeepShieldError
    from deepshield.signals.pdq import pdq_distance, pdq_hex_to_bytes
    from deepshield.signals.types import (
        SignalType,
        normalize_hex_signal,
        parse_signal_spec,
        parse_signal_type,
    )

from _common import main, text_of

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


def target(data: bytes) -> None:
    text = text_of(data)
    name, _, value = text.partition(":")
    for attempt in (lambda: parse_signal_type(name), lambda: parse_signal_spec(text)):
        with contextlib.suppress(DeepShieldError):
            attempt()
    for signal_type in SignalType:
        try:
            normalized = normalize_hex_signal(signal_type, value)
        except DeepShieldError:
            continue
        assert normalized == normalized.strip().lower()
    assert len(pdq_hex_to_bytes(value)) == 32
    assert 0 <= pdq_distance(value, PDQ) <= 256


def seeds() -> list[bytes]:
    return [f"pdq:{PDQ}".encode(), b"md5:d41d8cd98f00b204e9800998ecf8427e",
            b"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", b"vpdq:x",
            f"PDQ: {PDQ.upper()} ".encode()]


if __name__ == "__main__":
    main(target, seeds)
