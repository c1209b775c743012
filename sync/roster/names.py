"""Names for roster people, teams and districts: Moodle usernames and ID-number slugs.

Usernames must be lowercase Latin (field note 18: a Cyrillic username is rejected with ``invalidparameter``),
and a coordinator should still be able to tell who ``anna.ivanova`` is, so they are built from the person's
name with a standard Cyrillic-to-Latin transliteration (iuliia's "Wikipedia" scheme, the one most Russian
speakers read without effort: Наталья -> natalya, Щукин -> shchukin).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

import iuliia

#: What Moodle's PARAM_USERNAME keeps when ``extendedusernamechars`` is off (the default):
#: lowercase ASCII letters and digits, and ``_ - . @``.
USERNAME_RE = re.compile(r"^[a-z0-9_.@-]+$")
#: Moodle's user.username column is 100 characters; stay well below for readability.
USERNAME_MAX = 60


def transliterate(text: str) -> str:
    """Latin spelling of ``text`` (Cyrillic via iuliia Wikipedia; other letters lose their accents)."""
    latin = iuliia.WIKIPEDIA.translate(text)
    # Letters iuliia leaves alone (e.g. Latin with diacritics, Ukrainian і) are reduced to plain ASCII.
    decomposed = unicodedata.normalize("NFKD", latin)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _ascii_word(text: str) -> str:
    word = transliterate(text).lower()
    word = re.sub(r"[^a-z0-9]+", "-", word).strip("-")
    return word


def slug(text: str, *, max_length: int = 40) -> str:
    """A lowercase ASCII slug for an ID number: ``Мильковский МР`` -> ``milkovsky-mr``."""
    word = _ascii_word(text)[:max_length].strip("-")
    return word or "x"


def username_base(firstname: str, lastname: str) -> str:
    """The readable part of a username: ``firstname.lastname`` transliterated (``anna.ivanova``)."""
    parts = [_ascii_word(firstname), _ascii_word(lastname)]
    base = ".".join(p for p in parts if p)
    base = base[:USERNAME_MAX].strip(".-")
    return base or "user"


def is_valid_username(username: str) -> bool:
    return bool(USERNAME_RE.match(username)) and len(username) <= 100


def username_candidates(base: str) -> Iterable[str]:
    """``base``, then ``base2``, ``base3``..."""
    number = 1
    while True:
        yield base if number == 1 else f"{base}{number}"
        number += 1


def assign_usernames(
    bases: dict[str, str],
    is_taken: Callable[[str], bool],
    *,
    reserved: Iterable[str] = (),
) -> dict[str, str]:
    """Give each key a unique username from its base.

    ``bases`` maps a person key to a username base (in roster order, which decides who gets the plain
    base when two people share a name). ``is_taken`` says whether a name already belongs to someone on the
    site; ``reserved`` names are taken too. Deterministic: the same input gives the same usernames.
    """
    used = set(reserved)
    result: dict[str, str] = {}
    for key, base in bases.items():
        for candidate in username_candidates(base):
            if candidate in used or is_taken(candidate):
                continue
            used.add(candidate)
            result[key] = candidate
            break
    return result
