"""What the service says about its runs, made once and said in two languages.

A job's detail ("roster.csv: applied 3 suspensions") is read by people (``serve --once``, `accel status`, the
line the long-running service prints per run) in their language, and written to the log, which stays
English for the operators who grep it. So a job does not make a string but a :class:`Text`: a function of
the catalogs, said with the chosen language's (``str()``) or with English's (:meth:`Text.english`). A
sentence is translated whole, plurals included (``t.ngettext``); only independent sentences are joined.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Iterable

from i18n import translations

Catalogs = gettext.NullTranslations


class Text:
    """A sentence said later, in the language of whoever reads it."""

    __slots__ = ("_render",)

    def __init__(self, render: Callable[[Catalogs], str]) -> None:
        self._render = render

    def said(self, catalogs: Catalogs) -> str:
        return self._render(catalogs)

    def english(self) -> str:
        return self._render(translations("en"))

    def __str__(self) -> str:
        return self._render(translations())

    def __repr__(self) -> str:
        return f"Text({self.english()!r})"

    def __bool__(self) -> bool:
        return bool(self.english())


def text(message: str, **values: object) -> Text:
    """``message`` (an English msgid marked with ``N_`` where it is written) with its placeholders filled.

    A value that is itself a :class:`Text` is said in the same language as the sentence around it.
    """

    def render(catalogs: Catalogs) -> str:
        return catalogs.gettext(message).format(
            **{key: said(value, catalogs) for key, value in values.items()}
        )

    return Text(render)


def said(value: object, catalogs: Catalogs) -> object:
    """``value`` as the sentence around it says it: a :class:`Text` in the same language, anything else as is."""
    return value.said(catalogs) if isinstance(value, Text) else value


def joined(parts: Iterable[str | Text], separator: str = "; ") -> Text:
    """Independent sentences one after another (never pieces of one sentence: those are one message)."""
    kept = [part for part in parts if part]
    return Text(lambda catalogs: separator.join(str(said(part, catalogs)) for part in kept))


def english(value: str | Text) -> str:
    """What the log says: English for a :class:`Text`, a plain string as it is."""
    return value.english() if isinstance(value, Text) else value
