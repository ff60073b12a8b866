"""The 64-bit payload on the wire: CRC-32 check, rate-1/2 convolutional code, soft Viterbi.

A payload of 64 data bits gets a 32-bit CRC (so a random pattern passes the check
with probability 2^-32) and 6 zero tail bits, then is encoded with the K=7, rate-1/2
convolutional code (generators 133 and 171 octal, the one used by 802.11 and many
others). The decoder takes soft values (positive = 1) and returns the most likely
data bits and whether the CRC holds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

DATA_BITS = 64
CRC_BITS = 32
CONSTRAINT = 7
GENERATORS = (0o133, 0o171)
TAIL_BITS = CONSTRAINT - 1
MESSAGE_BITS = DATA_BITS + CRC_BITS
CODED_BITS = (MESSAGE_BITS + TAIL_BITS) * len(GENERATORS)

_STATES = 1 << TAIL_BITS


def _parity(value: int) -> int:
    return value.bit_count() & 1


def _trellis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each next state: its two predecessor states, and the ±1 outputs of each branch."""
    predecessors = np.zeros((_STATES, 2), dtype=np.int64)
    outputs = np.zeros((_STATES, 2, len(GENERATORS)), dtype=np.float64)
    for state in range(_STATES):
        bit = state & 1
        for k, high in enumerate((0, 1 << (TAIL_BITS - 1))):
            previous = (state >> 1) | high
            register = (previous << 1) | bit
            predecessors[state, k] = previous
            outputs[state, k] = [2 * _parity(register & g) - 1 for g in GENERATORS]
    return predecessors, outputs, np.arange(_STATES) & 1


_PREDECESSORS, _OUTPUTS, _INPUT_BIT = _trellis()


def message_bits(payload: int) -> np.ndarray:
    """The 96 message bits of a 64-bit payload: the payload, then its CRC-32, big-endian."""
    if not 0 <= payload < 1 << DATA_BITS:
        raise ValueError("a watermark payload is a 64-bit unsigned integer")
    data = payload.to_bytes(8, "big")
    check = zlib.crc32(data).to_bytes(4, "big")
    return np.unpackbits(np.frombuffer(data + check, dtype=np.uint8))


def encode(payload: int) -> np.ndarray:
    """The coded bits (0/1) that carry ``payload``."""
    register = 0
    coded = []
    for bit in [*message_bits(payload).tolist(), *([0] * TAIL_BITS)]:
        register = ((register << 1) | int(bit)) & ((1 << CONSTRAINT) - 1)
        coded.extend(_parity(register & g) for g in GENERATORS)
    return np.asarray(coded, dtype=np.int8)


@dataclass(frozen=True)
class DecodedPayload:
    payload: int
    crc_ok: bool
    bit_agreement: float  # share of coded bits whose soft sign agrees with the re-encoded payload


def decode(soft: np.ndarray) -> DecodedPayload:
    """Maximum-likelihood payload for soft coded values (positive means 1)."""
    steps = CODED_BITS // len(GENERATORS)
    symbols = np.asarray(soft, dtype=np.float64).reshape(steps, len(GENERATORS))
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choices = np.zeros((steps, _STATES), dtype=np.int8)
    for step in range(steps):
        branch = metric[_PREDECESSORS] + _OUTPUTS @ symbols[step]
        choice = np.argmax(branch, axis=1)
        choices[step] = choice
        metric = branch[np.arange(_STATES), choice]
    state = 0  # the tail bits return the encoder to state 0
    bits = np.zeros(steps, dtype=np.uint8)
    for step in range(steps - 1, -1, -1):
        bits[step] = _INPUT_BIT[state]
        state = _PREDECESSORS[state, choices[step, state]]
    message = bits[:MESSAGE_BITS]
    data = np.packbits(message[:DATA_BITS]).tobytes()
    check = np.packbits(message[DATA_BITS:]).tobytes()
    payload = int.from_bytes(data, "big")
    crc_ok = zlib.crc32(data).to_bytes(4, "big") == check
    agreement = float(np.mean((np.asarray(soft) > 0) == (encode(payload) == 1)))
    return DecodedPayload(payload, crc_ok, agreement)
