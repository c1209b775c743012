"""The catalogs: every message of the code has its Russian translation, and the language is chosen right."""

from __future__ import annotations

import pytest

import i18n
from i18n import _, catalogs, choose_language, ngettext, set_language


@pytest.mark.parametrize("domain", sorted(catalogs.DOMAINS))
def test_every_message_has_a_russian_translation(domain: str) -> None:
    gaps = [str(gap) for gap in catalogs.gaps(domain)]
    assert not gaps, "untranslated (python -m i18n.catalogs update, then fill the .po):\n" + "\n".join(gaps)


def test_the_extractor_finds_marked_messages() -> None:
    # Guards the check above: a domain whose extraction found nothing would pass it vacuously.
    assert "Show this message and exit." in {m.id for m in catalogs.extract("commands")}


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        (None, {}, "ru"),
        (None, {"LANG": "C.UTF-8"}, "ru"),
        (None, {"LANG": "en_US.UTF-8"}, "en"),
        (None, {"LANG": "ru_RU.UTF-8"}, "ru"),
        (None, {"LC_ALL": "de_DE.UTF-8", "LANG": "en_US.UTF-8"}, "ru"),
        (None, {"LC_MESSAGES": "en_GB.UTF-8", "LANG": "ru_RU.UTF-8"}, "en"),
        (None, {"LANGUAGE": "de:en", "LANG": "ru_RU.UTF-8"}, "en"),
        (None, {"ACCEL_LANG": "en", "LANG": "ru_RU.UTF-8"}, "en"),
        ("ru", {"ACCEL_LANG": "en"}, "ru"),
        ("EN", {}, "en"),
    ],
)
def test_choose_language(explicit: str | None, env: dict[str, str], expected: str) -> None:
    assert choose_language(explicit, env) == expected


def test_a_language_accel_does_not_speak_is_an_error_when_asked_for() -> None:
    with pytest.raises(ValueError, match="ACCEL_LANG='fr'"):
        choose_language(None, {"ACCEL_LANG": "fr"})


def test_russian_plural_forms() -> None:
    set_language("ru")
    try:
        assert i18n.translations().ngettext("x", "xs", 1) == "x"  # no entry: the English forms
        forms = [
            ngettext(
                "Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments.", n
            )
            for n in (1, 2, 5, 21)
        ]
        assert forms[0] == forms[3] and forms[0] != forms[1] != forms[2], forms
        assert _("Show this message and exit.") != "Show this message and exit."
    finally:
        set_language("en")
