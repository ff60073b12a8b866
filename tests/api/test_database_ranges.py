"""A number that passes the API's 64-bit bound but not the database's column (PostgreSQL's ids
are 32-bit) is the request's fault: a 400 with the error shape, never a 500."""

from __future__ import annotations

import pytest

from deepshield.services.access import Role

#: Above PostgreSQL's INTEGER (2**31 - 1), below the API's 64-bit bound.
PAST_INT32 = 3_000_000_000


def test_a_case_id_past_the_columns_range_is_a_400_not_a_500(api):
    response = api.client.get(f"/v1/content/flagged?case={PAST_INT32}", headers=api.headers(Role.PLATFORM))
    if api.ctx.store.backend == "sqlite":  # 64-bit integers: the case is simply not there
        api.expect_error(response, 404, "not_found")
    else:  # the column refuses the number: the store says so (this was a 500)
        api.expect_error(response, 400, "invalid_request")
        assert "out of the range" in response.json()["detail"]
    api.assert_healthy()


@pytest.mark.parametrize("entry_id", [PAST_INT32, 2**63 - 1])
def test_entry_ids_past_the_columns_range_answer_not_found(api, entry_id):
    api.create_bank("ranges")
    response = api.client.delete(f"/v1/banks/ranges/entries/{entry_id}", headers=api.headers(Role.ADMIN))
    api.expect_error(response, 404, "not_found")
    api.assert_healthy()
