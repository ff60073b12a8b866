import numpy as np
import pytest

from deepshield.watermark.payload import CODED_BITS, decode, encode, message_bits


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
