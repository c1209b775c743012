"""Moodle users: look-up by a unique field, creation and update.

A batch write is all-or-nothing and its error does not say which user was bad (field notes 3 and 5);
isolating that user is the caller's job (sync/roster/apply.py splits the batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from integration.transport import MoodleClient

UserField = Literal["id", "idnumber", "username", "email"]


class MoodleUser(BaseModel):
    """A user as core_user_get_users_by_field returns them to an administrator's token."""

    model_config = ConfigDict(extra="ignore")

    id: int
    username: str = ""
    firstname: str = ""
    lastname: str = ""
    middlename: str = ""
    fullname: str = ""
    email: str = ""
    idnumber: str = ""
    city: str = ""
    phone1: str = ""
    institution: str = ""
    department: str = ""
    auth: str = ""
    suspended: bool = False


class CreatedUser(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    username: str


class UserWarning(BaseModel):
    """One per-user failure of core_user_update_users (it reports them only as warnings, field note 8)."""

    model_config = ConfigDict(extra="ignore")

    item: str = ""
    itemid: int | None = None
    warningcode: str = ""
    message: str = ""


def get_users_by_field(
    client: MoodleClient, field: UserField, values: Iterable[str | int]
) -> list[MoodleUser]:
    """Users whose ``field`` equals one of ``values`` (exact match, as the database compares).

    The values are sent in as many requests as the site's max_input_vars needs: PHP silently drops
    variables past the limit and Moodle then answers as if they had not been asked (field note 6).

    Calls: core_user_get_users_by_field.
    """
    unique = list(dict.fromkeys(str(v) for v in values if str(v) != ""))
    found: dict[int, MoodleUser] = {}
    for answer in client.call_batched(
        "core_user_get_users_by_field", "values", unique, extra={"field": field}
    ):
        for entry in answer or []:
            user = MoodleUser.model_validate(entry)
            found[user.id] = user
    return list(found.values())


def create_users(client: MoodleClient, users: Sequence[Mapping[str, Any]]) -> list[CreatedUser]:
    """Create users (each a dict of Moodle user fields); answers their ids and usernames.

    Calls: core_user_create_users.
    """
    answers = client.call_batched("core_user_create_users", "users", users, write=True)
    return [CreatedUser.model_validate(entry) for answer in answers for entry in answer or []]


def update_users(client: MoodleClient, users: Sequence[Mapping[str, Any]]) -> list[UserWarning]:
    """Update users (each a dict with ``id`` and the fields to change).

    Moodle applies the others when one fails and answers the failures as warnings (field note 8);
    they are returned so that the caller can tell which user was not updated.

    Calls: core_user_update_users.
    """
    warnings: list[UserWarning] = []
    for answer in client.call_batched("core_user_update_users", "users", users, write=True):
        if isinstance(answer, dict):
            warnings.extend(UserWarning.model_validate(w) for w in answer.get("warnings") or [])
    return warnings
