import numpy as np
import pytest

from deepshield.watermark.payload import CODED_BITS, LIST_SIZE, decode, encode, message_bits


def _soft(coded: np.ndarray) -> np.ndarray:
    return coded.astype(float) * 2 - 1


def test_a_payload_is_64_bits_with_a_crc32_and_codes_to_204_bits():
    bits = message_bits(0x0123456789ABCDEF)
    assert bits.shape == (96,)
    assert int("".join(map(str, bits[:64])), 2) == 0x0123456789ABCDEF
    assert encode(0x0123456789ABCDEF).shape == (CODED_BITS,) == (204,)


@pytest.mark.parametrize("payload", [0, 1, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF, 0xDEADBEEF00C0FFEE])
def test_clean_soft_bits_decode_to_the_payload(payload):
    decoded = decode(_soft(encode(payload)))
    assert (decoded.payload, decoded.crc_ok, decoded.bit_agreement) == (payload, True, 1.0)


def test_the_code_corrects_scattered_errors_and_noise():
    payload = 0x00112233445566FF
    soft = _soft(encode(payload))
    rng = np.random.default_rng(7)
    flipped = soft.copy()
    flipped[rng.choice(CODED_BITS, 12, replace=False)] *= -1  # 6 % of the coded bits wrong
    assert decode(flipped).payload == payload
    noisy = soft + rng.normal(0, 0.8, CODED_BITS)
    decoded = decode(noisy)
    assert decoded.crc_ok and decoded.payload == payload and decoded.bit_agreement < 1.0


def test_random_soft_values_never_pass_the_crc():
    rng = np.random.default_rng(11)
    assert not any(decode(rng.normal(size=CODED_BITS)).crc_ok for _ in range(300))


@pytest.mark.parametrize("payload", [-1, 1 << 64])
def test_payloads_outside_64_bits_are_refused(payload):
    with pytest.raises(ValueError, match="64-bit"):
        encode(payload)


def _reference_encode(payload: int) -> list[int]:
    """The K=7 (133, 171) encoder as a plain shift register, to check the matrix form."""
    register, coded = 0, []
    for bit in [*message_bits(payload).tolist(), 0, 0, 0, 0, 0, 0]:
        register = ((register << 1) | int(bit)) & 0x7F
        coded += [(register & 0o133).bit_count() & 1, (register & 0o171).bit_count() & 1]
    return coded


@pytest.mark.parametrize("payload", [0, 1, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF, 0x8000000000000001])
def test_encode_matches_a_plain_shift_register(payload):
    assert encode(payload).tolist() == _reference_encode(payload)


def test_list_decoding_recovers_a_payload_the_best_path_misses():
    rng = np.random.default_rng(3)  # a noisy case found by search: Viterbi's best path fails
    payload = int(rng.integers(0, 2**63))
    soft = _soft(encode(payload)) + rng.normal(0, 0.95, CODED_BITS)
    plain = decode(soft)
    assert not plain.crc_ok
    listed = decode(soft, list_size=LIST_SIZE)
    assert listed.crc_ok and listed.payload == payload and listed.rank > 0


def test_list_decoding_of_clean_bits_is_the_best_path():
    decoded = decode(_soft(encode(0x0123456789ABCDEF)), list_size=LIST_SIZE)
    assert (decoded.payload, decoded.crc_ok, decoded.rank) == (0x0123456789ABCDEF, True, 0)


def test_list_decoding_of_random_values_never_passes_the_crc():
    rng = np.random.default_rng(12)
    assert not any(decode(rng.normal(size=CODED_BITS), list_size=LIST_SIZE).crc_ok for _ in range(100))


def test_a_list_size_below_one_is_refused():
    with pytest.raises(ValueError, match="list_size"):
        decode(np.zeros(CODED_BITS), list_size=0)
