"""Case states: only the lifecycle's moves are allowed, and a refusal says what the state forbids."""

import pytest

from deepshield.cases import misuse, numbers, states
from deepshield.errors import Conflict

LEGAL = [("received", "incomplete"), ("received", "valid"), ("received", "referred"),
         ("incomplete", "valid"), ("valid", "actioned"), ("actioned", "appealed"),
         ("appealed", "actioned"), ("actioned", "closed"), ("valid", "withdrawn"),
         ("incomplete", "withdrawn"), ("appealed", "withdrawn"), ("referred", "withdrawn")]


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_lifecycle_moves_are_allowed(current, target):
    states.require_move(current, target, "move")


@pytest.mark.parametrize(("current", "target"), [
    ("incomplete", "actioned"), ("received", "actioned"), ("valid", "appealed"), ("valid", "closed"),
    ("closed", "withdrawn"), ("withdrawn", "valid"), ("closed", "actioned"), ("actioned", "valid"),
    ("referred", "valid"), ("appealed", "closed"), ("valid", "bogus")])
def test_other_moves_raise_conflict_naming_the_state(current, target):
    with pytest.raises(Conflict, match=f"a case in state {current} cannot be moved"):
        states.require_move(current, target, "be moved")


def test_fake_or_ai_is_never_a_ground_and_real_grounds_pass():
    for reasons in ("The image is AI-generated", "this is a deepfake", "It's fake",
                    "not a real photo of her", "synthetic image", "AI made"):
        assert states.fake_is_the_ground(reasons), reasons
    for reasons in ("The content is not intimate", "The person depicted is not the requester",
                    "The URL shows a news report about the case"):
        assert not states.fake_is_the_ground(reasons), reasons
    assert states.flipped("removed") == "declined" and states.flipped("declined") == "removed"


def test_case_numbers_are_random_unambiguous_and_parse_back():
    drawn = {numbers.new_case_number() for _ in range(200)}
    assert len(drawn) == 200
    for number in drawn:
        assert numbers.parse_case_number(number) == number
        assert not set(number.replace("DS-", "").replace("-", "")) & set("0O1I")
        assert numbers.parse_case_number(number.lower().replace("-", " ")) == number
    for bad in ("DS-0000-AAAA-BBBB", "DS-AAAA-AAAA", "XX-AAAA-BBBB-CCCC", "", None, 5, "DS-" + "A" * 40):
        assert numbers.parse_case_number(bad) is None


def test_misuse_warns_first_then_suspends_within_the_window():
    from datetime import UTC, datetime, timedelta
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    past = []
    first = misuse.next_strike(past, t0, strikes_before_suspension=3, suspension_days=30)
    past.append(misuse.PastStrike(first.kind, t0, first.until))
    second = misuse.next_strike(past, t0 + timedelta(days=1), strikes_before_suspension=3, suspension_days=30)
    past.append(misuse.PastStrike(second.kind, t0 + timedelta(days=1), second.until))
    third = misuse.next_strike(past, t0 + timedelta(days=2), strikes_before_suspension=3, suspension_days=30)
    assert (first.kind, second.kind, third.kind) == ("warning", "warning", "suspension")
    assert third.until == t0 + timedelta(days=32)
    # Strikes older than the window no longer count.
    later = misuse.next_strike(past, t0 + timedelta(days=200), strikes_before_suspension=3,
                               suspension_days=30)
    assert later.kind == "warning"
    past.append(misuse.PastStrike(third.kind, t0 + timedelta(days=2), third.until))
    assert misuse.suspended_until(past, t0 + timedelta(days=10)) == (True, t0 + timedelta(days=32))
    assert misuse.suspended_until(past, t0 + timedelta(days=40)) == (False, None)
