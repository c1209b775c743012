"""Instant messages to site users (reminders to mentors, notices to coordinators)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from pydantic import BaseModel, ConfigDict

from integration.transport import MoodleClient

FORMAT_HTML = 1
#: core_message\api::MESSAGE_MAX_LENGTH, compared with PHP's strlen: UTF-8 *bytes* (a Cyrillic letter is two).
#: A longer text is refused (``msgid`` -1, "errormessagetoolong"); the others of the call still go.
MESSAGE_MAX_BYTES = 4096


def fits(text: str) -> bool:
    """Whether Moodle accepts ``text`` as one message."""
    return len(text.encode("utf-8")) <= MESSAGE_MAX_BYTES


class Message(TypedDict, total=False):
    touserid: int
    text: str
    textformat: int
    clientmsgid: str


class SentMessage(BaseModel):
    """One answer per message; a refused message has ``msgid`` -1 and an ``errormessage``."""

    model_config = ConfigDict(extra="ignore")

    msgid: int
    clientmsgid: str = ""
    text: str = ""
    timecreated: int = 0
    errormessage: str = ""

    @property
    def ok(self) -> bool:
        return self.msgid > 0 and not self.errormessage


def message(touserid: int, text: str, clientmsgid: str = "") -> Message:
    out: Message = {"touserid": touserid, "text": text, "textformat": FORMAT_HTML}
    if clientmsgid:
        out["clientmsgid"] = clientmsgid
    return out


def send_instant_messages(client: MoodleClient, messages: Sequence[Message]) -> list[SentMessage]:
    """Send messages from the token's user; Moodle answers each one separately (refusals do not fail the call).

    Calls: core_message_send_instant_messages.
    """
    answers = client.call_batched("core_message_send_instant_messages", "messages", messages, write=True)
    return [SentMessage.model_validate(entry) for answer in answers for entry in answer or []]
