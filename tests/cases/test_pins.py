"""Victims' PINs: random, stored only through scrypt with its parameters, checked exactly."""

from deepshield.cases import pins


def test_pins_are_eight_random_digits():
    drawn = {pins.new_pin() for _ in range(200)}
    assert len(drawn) > 190
    assert all(len(pin) == 8 and pin.isdigit() for pin in drawn)


def test_the_stored_form_names_scrypt_and_its_parameters_and_never_holds_the_pin():
    stored = pins.hash_pin("01234567", 10)
    parts = stored.split("$")
    assert parts[:5] == ["", "scrypt", "10", "8", "1"]
    assert "01234567" not in stored
    assert pins.hash_pin("01234567", 10) != stored  # a fresh salt every time
    assert pins.verify_pin("01234567", stored)
    assert not pins.verify_pin("01234568", stored)
    assert not pins.verify_pin("", stored)


def test_malformed_or_tampered_hashes_never_verify():
    stored = pins.hash_pin("76543210", 10)
    for bad in ("", "plain", stored.replace("$scrypt$", "$bcrypt$"), stored.replace("$10$", "$30$"),
                stored + "$x", stored[:-4]):
        assert not pins.verify_pin("76543210", bad)
    assert not pins.verify_pin("76543210", pins.dummy_hash(10))
