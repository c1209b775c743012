"""Names made at import time and read in the language of the moment.

The registry's titles and units, the statuses and the assignments' titles are module constants, defined before
anyone chose a language; they are written in English and marked with ``N_()`` where they are defined, and
:class:`Translated` looks each one up when it is read, so a report built after ``set_language`` reads them in
that language (and the JSON report's ``titles`` too).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from i18n import _


class Translated(Mapping[str, str]):
    """A read-only mapping of English texts (marked ``N_()``) that gives each in the current language."""

    def __init__(self, messages: Mapping[str, str]) -> None:
        self._messages = dict(messages)

    def __getitem__(self, key: str) -> str:
        return _(self._messages[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def english(self, key: str) -> str:
        """The text as written in the code (the catalogs' msgid)."""
        return self._messages[key]
