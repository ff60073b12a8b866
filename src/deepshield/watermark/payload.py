"""The 64-bit payload on the wire: CRC-32 check, rate-1/2 convolutional code, soft Viterbi.

A payload of 64 data bits gets a 32-bit CRC (so a random pattern passes the check
with probability 2^-32) and 6 zero tail bits, then is encoded with the K=7, rate-1/2
convolutional code (generators 133 and 171 octal, the one used by 802.11 and many
others). The decoder takes soft values (positive = 1) and returns the most likely
data bits and whether the CRC holds; as a list decoder, it returns the most likely
path whose CRC holds.
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


def _generator_matrix() -> np.ndarray:
    """(coded bits × message and tail bits) 0/1 matrix: the code is linear over GF(2)."""
    steps = MESSAGE_BITS + TAIL_BITS
    matrix = np.zeros((steps * len(GENERATORS), steps), dtype=np.int64)
    for step in range(steps):
        for k, generator in enumerate(GENERATORS):
            for lag in range(CONSTRAINT):  # register bit ``lag`` holds the input from ``lag`` ago
                if generator >> lag & 1 and step - lag >= 0:
                    matrix[step * len(GENERATORS) + k, step - lag] = 1
    return matrix


_GENERATOR_MATRIX = _generator_matrix()


def encode(payload: int) -> np.ndarray:
    """The coded bits (0/1) that carry ``payload``."""
    message = np.concatenate([message_bits(payload), np.zeros(TAIL_BITS, dtype=np.uint8)])
    return ((_GENERATOR_MATRIX @ message) & 1).astype(np.int8)


#: Paths the list decoder keeps per trellis state. Each is one more chance for a random
#: pattern to pass the CRC, so a list decode is worth ``LIST_SIZE`` plain ones in the false-payload bound.
LIST_SIZE = 32


@dataclass(frozen=True)
class DecodedPayload:
    payload: int
    crc_ok: bool
    bit_agreement: float  # share of coded bits whose soft sign agrees with the re-encoded payload
    rank: int = 0  # where in the decoder's list of likely paths the payload came (0: the best)


def _message(bits: np.ndarray) -> tuple[int, bool]:
    """(payload, CRC holds) for 96 decoded message bits."""
    data = np.packbits(bits[:DATA_BITS]).tobytes()
    check = np.packbits(bits[DATA_BITS:MESSAGE_BITS]).tobytes()
    return int.from_bytes(data, "big"), zlib.crc32(data).to_bytes(4, "big") == check


def decode(soft: np.ndarray, list_size: int = 1) -> DecodedPayload:
    """The most likely payload for soft coded values (positive means 1).

    With ``list_size`` > 1 this is a CRC-aided list Viterbi decoder (the parallel list
    algorithm of Seshadri and Sundberg): it keeps the ``list_size`` best paths into every
    state and returns the most likely path whose CRC holds, or the best path when none does.
    That recovers payloads whose single best path has a bit error or two, at the price of
    ``list_size`` CRC trials instead of one.
    """
    if list_size < 1:
        raise ValueError("list_size must be at least 1")
    steps = CODED_BITS // len(GENERATORS)
    symbols = np.asarray(soft, dtype=np.float64).reshape(steps, len(GENERATORS))
    width = list_size
    metric = np.full((_STATES, width), -np.inf)
    metric[0, 0] = 0.0
    # For every step, state and rank: which (predecessor branch, predecessor rank) it came from.
    back = np.zeros((steps, _STATES, width), dtype=np.int32)
    gains = np.einsum("skg,tg->tsk", _OUTPUTS, symbols)  # (steps, states, 2 branches)
    for step in range(steps):
        candidates = metric[_PREDECESSORS] + gains[step][:, :, None]  # (states, 2, width)
        if width == 1:
            choice = candidates[:, 1, 0] > candidates[:, 0, 0]
            back[step, :, 0] = choice
            metric = np.where(choice, candidates[:, 1, 0], candidates[:, 0, 0])[:, None]
            continue
        candidates = candidates.reshape(_STATES, 2 * width)
        order = np.argsort(-candidates, axis=1, kind="stable")[:, :width]
        back[step] = order
        metric = np.take_along_axis(candidates, order, axis=1)
    best: DecodedPayload | None = None
    for rank in range(width):  # the tail bits return the encoder to state 0
        if not np.isfinite(metric[0, rank]):
            break
        bits = np.zeros(steps, dtype=np.uint8)
        state, position = 0, rank
        for step in range(steps - 1, -1, -1):
            bits[step] = _INPUT_BIT[state]
            branch, position = divmod(int(back[step, state, position]), width)
            state = int(_PREDECESSORS[state, branch])
        payload, crc_ok = _message(bits)
        if best is None or crc_ok:
            agreement = float(np.mean((np.asarray(soft) > 0) == (encode(payload) == 1)))
            best = DecodedPayload(payload, crc_ok, agreement, rank)
        if crc_ok:
            break
    assert best is not None  # rank 0 always has a finite metric
    return best
