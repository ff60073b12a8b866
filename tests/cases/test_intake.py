"""The request form: what is malformed (refused, naming the field) versus merely missing."""

import base64

import pytest

from deepshield.cases import intake
from deepshield.errors import InvalidRequest

PDQ = "f" * 32 + "0" * 32


def complete_form(**changes):
    form = {
        "requester_role": "victim",
        "signature": {"name": "A. Person", "statement_ticked": True},
        "locations": [{"url": "https://example.com/post/1"}, {"item_id": "item-42"}],
        "hashes": [{"type": "pdq", "value": PDQ, "quality": 90}],
        "good_faith": True,
        "contact": {"email": "anon123@example.org"},
        "jurisdiction": {"depicted_person_country": "UK", "platform_countries": ["us", "DE"]},
        "age_check": {"depicted_under_18": False},
        "safety_check": {"in_immediate_danger": False},
    }
    form.update(changes)
    return form


def test_a_complete_form_parses_with_nothing_missing_and_uk_read_as_gb():
    form = intake.parse_form(complete_form())
    assert intake.missing(form) == []
    assert form.depicted_person_country == "GB"
    assert form.platform_countries == ("US", "DE")
    assert form.countries == ["GB", "US", "DE"]
    assert form.locations == (intake.LocationInput("url", "https://example.com/post/1"),
                              intake.LocationInput("item", "item-42"))
    assert form.hashes == (intake.HashInput("pdq", PDQ, 90),)


def test_missing_and_unticked_items_are_listed_one_sentence_per_field_naming_it():
    form = intake.parse_form({"signature": {"statement_ticked": False}, "good_faith": False})
    lacking = intake.missing(form)
    assert [sentence.split(":")[0] for sentence in lacking] == [
        "requester_role", "signature.name", "signature.statement_ticked", "locations", "good_faith",
        "contact.email", "age_check.depicted_under_18"]
    assert "signature.statement_ticked: tick the statement that the request is accurate" in lacking


def test_one_hash_and_no_location_is_enough_identification():
    form = intake.parse_form(complete_form(locations=[]))
    assert intake.missing(form) == []


def test_the_answers_kept_with_a_case_hold_no_pii():
    answers = intake.parse_form(complete_form()).answers()
    text = repr(answers)
    assert "A. Person" not in text and "anon123" not in text and "example.com" not in text
    assert answers["signature_given"] is True and answers["contact_given"] is True


@pytest.mark.parametrize(("form", "field"), [
    (complete_form(requester_role="police"), "requester_role"),
    (complete_form(signature={"name": 5, "statement_ticked": True}), "signature.name"),
    (complete_form(signature={"name": "x", "statement_ticked": "yes"}), "signature.statement_ticked"),
    (complete_form(locations=[{"url": "ftp://example.com/x"}]), "locations[0].url"),
    (complete_form(locations=[{"url": "javascript:alert(1)"}]), "locations[0].url"),
    (complete_form(locations=[{"url": "https://a.example/x", "item_id": "1"}]), "locations[0]"),
    (complete_form(locations=[{"url": "https://example.com/" + "a" * 2100}]), "locations[0].url"),
    (complete_form(locations="https://example.com"), "locations"),
    (complete_form(locations=[{"url": f"https://e.com/{i}"} for i in range(101)]), "locations"),
    (complete_form(hashes=[{"type": "pdq", "value": "zz" * 32}]), "hashes[0].value"),
    (complete_form(hashes=[{"type": "sha1", "value": "ab" * 20}]), "hashes[0].type"),
    (complete_form(hashes=[{"type": "pdq", "value": PDQ, "quality": 101}]), "hashes[0].quality"),
    (complete_form(hashes=[{"type": "pdq", "value": PDQ, "quality": True}]), "hashes[0].quality"),
    (complete_form(good_faith="true"), "good_faith"),
    (complete_form(contact={"email": "not an email"}), "contact.email"),
    (complete_form(contact={"email": "a@b.org", "webhook_url": "http://example.com/hook"}),
     "contact.webhook_url"),
    (complete_form(jurisdiction={"depicted_person_country": "XX"}), "jurisdiction.depicted_person_country"),
    (complete_form(jurisdiction={"platform_countries": "US"}), "jurisdiction.platform_countries"),
    (complete_form(age_check={"depicted_under_18": "no"}), "age_check.depicted_under_18"),
    (complete_form(surprise=1), "surprise"),
    (complete_form(signature={"name": "x", "extra": {"a": 1}}), "signature.extra"),
    (complete_form(signature={"name": "bad\x00name"}), "signature.name"),
])
def test_malformed_values_are_refused_naming_the_field(form, field):
    with pytest.raises(InvalidRequest) as caught:
        intake.parse_form(form)
    assert caught.value.detail.startswith(f"{field}:"), caught.value.detail


def test_huge_strings_and_deep_nesting_are_refused():
    with pytest.raises(InvalidRequest, match=r"signature\.name: at most 200"):
        intake.parse_form(complete_form(signature={"name": "x " * 1000}))
    nested: dict = {}
    cursor = nested
    for _ in range(50):
        cursor["a"] = {}
        cursor = cursor["a"]
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        intake.parse_form(complete_form(signature=nested))
    with pytest.raises(InvalidRequest, match="too large"):
        intake.parse_form(complete_form(locations=[[1] * 100] * 100))
    with pytest.raises(InvalidRequest, match="must be an object"):
        intake.parse_form(["not", "a", "form"])


def test_anything_that_looks_like_an_image_is_refused_with_never_the_image():
    blob = base64.b64encode(bytes(range(256)) * 40).decode()
    for form in (
        complete_form(image=blob),
        complete_form(photo="x"),
        complete_form(signature={"name": blob}),
        complete_form(hashes=[{"type": "pdq", "value": blob}]),
        complete_form(locations=[{"url": "data:image/jpeg;base64,/9j/4AAQ"}]),
        complete_form(locations=[{"file": "x"}]),
        complete_form(contact={"email": b"\xff\xd8\xff"}),
    ):
        with pytest.raises(InvalidRequest, match="send hashes made on your device, never the image"):
            intake.parse_form(form)


def test_a_long_video_hash_is_not_taken_for_an_image():
    lines = "\n".join(f"{i},100,{PDQ},{i}.000" for i in range(200))
    form = intake.parse_form(complete_form(hashes=[{"type": "vpdq", "value": lines}]))
    assert form.hashes[0].signal_type == "vpdq"


def test_merging_a_change_adds_locations_and_replaces_answers():
    first = intake.parse_form({"locations": [{"url": "https://example.com/1"}], "good_faith": False})
    change = intake.parse_form({"locations": [{"url": "https://example.com/1"}, {"item_id": "9"}],
                                "good_faith": True})
    merged = first.merged(change)
    assert [loc.location for loc in merged.locations] == ["https://example.com/1", "9"]
    assert merged.good_faith is True


def test_stored_answers_rebuild_the_same_form():
    form = intake.parse_form(complete_form())
    rebuilt = intake.from_answers(form.answers(), signature_name="A. Person",
                                  contact_email="anon123@example.org", locations=form.locations,
                                  hashes=form.hashes)
    assert rebuilt == form
