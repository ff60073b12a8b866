"""Fuzz the vPDQ parser: ``deepshield.signals.vpdq.parse_vpdq`` on any text (the reference's lines,
or a JSON list of frames), then its round trip through ``serialize_vpdq``."""

from __future__ import annotations

from _common import instrumented

with instrumented():
    from deepshield.signals.vpdq import parse_vpdq, serialize_vpdq, unique_good_frames

from _common import main, text_of

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


def target(data: bytes) -> None:
    features = parse_vpdq(text_of(data))
    assert features
    unique_good_frames(features, 50)
    again = parse_vpdq(serialize_vpdq(features))
    assert [f.pdq_hex for f in again] == [f.pdq_hex for f in features]


def seeds() -> list[bytes]:
    return [f"0,100,{PDQ},0.000\n1,90,{PDQ},1.000".encode(),
            f'[{{"frame_number": 0, "quality": 100, "pdq_hex": "{PDQ}", "timestamp": 0.5}}]'.encode(),
            f'[{{"quality": 80, "hash": "{PDQ}", "timestamp": 1e3}}]'.encode()]


if __name__ == "__main__":
    main(target, seeds)
