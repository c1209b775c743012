"""[service] coordinator is looked up with core_user_get_users_by_field, whose values Moodle cleans with
PARAM_USERNAME / PARAM_EMAIL: a value they would change fails the whole call with invalidparameter."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from integration.errors import MoodleError
from integration.transport import MoodleClient
from integration.users import get_users_by_field
from sync.service.jobs import _coordinator_ids
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.people import add_user


def context(client: MoodleClient, coordinator: str) -> Any:
    return SimpleNamespace(
        client=lambda: client, config=SimpleNamespace(service=SimpleNamespace(coordinator=coordinator))
    )


def test_the_fake_refuses_a_username_moodle_would_clean(
    fake_moodle: FakeMoodle, client: MoodleClient
) -> None:
    with pytest.raises(MoodleError) as caught:
        get_users_by_field(client, "username", ["Иванова Анна"])
    assert caught.value.errorcode == "invalidparameter"


@pytest.mark.parametrize("coordinator", ["Иванова Анна", "not an email@", "a b"])
def test_a_coordinator_moodle_cannot_look_up_is_reported_not_sent(
    fake_moodle: FakeMoodle, client: MoodleClient, coordinator: str
) -> None:
    before = len(fake_moodle.calls)
    ids, who = _coordinator_ids(context(client, coordinator), None)
    assert ids == [] and "not a Moodle username or email" in str(who)
    assert len(fake_moodle.calls) == before


def test_a_coordinator_username_in_capitals_is_found(fake_moodle: FakeMoodle, client: MoodleClient) -> None:
    userid = add_user(fake_moodle, "kam21.coordinator", email="coordinator@example.org")
    assert _coordinator_ids(context(client, " Kam21.Coordinator "), None)[0] == [userid]
    assert _coordinator_ids(context(client, "coordinator@example.org"), None)[0] == [userid]
