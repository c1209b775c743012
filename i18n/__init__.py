"""What people read, in their language: Russian by default, English on request.

Every message a coordinator or the administrator reads (plans, errors, progress, tables, ``--help``) is
written in English in the code, wrapped in :func:`_` (or :func:`ngettext` where a number decides the form),
and looked up in the gettext catalogs of ``i18n/locale/<lang>/LC_MESSAGES/<domain>.po`` (one domain per part
of the tree, listed in :mod:`i18n.catalogs`). English is the source text itself, so it needs no catalog.

The language is chosen once per process (:func:`choose_language`): ``--lang``, else ``ACCEL_LANG``, else the
locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``), else Russian: the users are Russian-speaking, and a server's
``C.UTF-8`` locale says nothing about its reader. Lookups happen when a message is made, so a message built
after :func:`set_language` is in the new language.

Logs stay English (operators grep them) and so do ``--json`` keys: neither goes through :func:`_`.

Catalogs are compiled to ``.mo`` by the build (setup.py); a source checkout without them reads the ``.po``
files directly (Babel), so a developer's edit shows at once.

This package is the bottom layer: it imports nothing of the project, so every layer may use it.
"""

from __future__ import annotations

import gettext
import os
import threading
from collections.abc import Mapping
from pathlib import Path

#: the languages accel speaks; the first is the default
LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_lock = threading.Lock()
_loaded: dict[str, gettext.NullTranslations] = {}
_current: list[str] = [DEFAULT_LANGUAGE]  # a list so that set_language need not rebind a global


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs without translating it now (translated where it is shown)."""
    return message


def normalize_language(value: str | None) -> str | None:
    """``ru``/``en`` for a language or locale name (``ru_RU.UTF-8``, ``EN``, ``en-GB``); None otherwise."""
    if not value:
        return None
    code = value.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def choose_language(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The language for this run: ``explicit`` (``--lang``), ``ACCEL_LANG``, the locale, else Russian.

    An ``explicit`` or ``ACCEL_LANG`` value that is not a language accel speaks raises ValueError (a typo
    should not silently give the other language); a locale accel does not speak (``C``, ``de_DE``) falls
    through to Russian.
    """
    env = os.environ if environ is None else environ
    for source, value in (("--lang", explicit), ("ACCEL_LANG", env.get("ACCEL_LANG"))):
        if value:
            code = normalize_language(value)
            if code is None:
                raise ValueError(
                    f"{source}={value!r} is not a language accel speaks (choose one of: {', '.join(LANGUAGES)})"
                )
            return code
    # LANGUAGE is GNU's list of preferences ("ru:en"); then the POSIX order of precedence.
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        raw = env.get(name)
        if not raw:
            continue
        for part in raw.split(":"):
            code = normalize_language(part)
            if code is not None:
                return code
        if name != "LANGUAGE":
            # The first locale variable set decides (POSIX), even when accel does not speak it.
            break
    return DEFAULT_LANGUAGE


def set_language(language: str) -> None:
    """Speak ``language`` (``ru`` or ``en``) from now on, in every thread."""
    code = normalize_language(language)
    if code is None:
        raise ValueError(
            f"{language!r} is not a language accel speaks (choose one of: {', '.join(LANGUAGES)})"
        )
    _current[0] = code


def current_language() -> str:
    return _current[0]


def translations(language: str | None = None) -> gettext.NullTranslations:
    """The merged catalogs of ``language`` (all domains); English is the identity."""
    code = language or _current[0]
    with _lock:
        found = _loaded.get(code)
        if found is None:
            found = _load(code)
            _loaded[code] = found
        return found


def _(message: str) -> str:
    """``message`` in the current language."""
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message that agrees with ``n`` («1 изменение», «2 изменения», «5 изменений»)."""
    return translations().ngettext(singular, plural, n)


def reload() -> None:
    """Forget the loaded catalogs (tests that edit a catalog; a developer's long-running shell)."""
    with _lock:
        _loaded.clear()


def _load(language: str) -> gettext.NullTranslations:
    merged: gettext.NullTranslations = gettext.NullTranslations()
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    if language == "en" or not folder.is_dir():
        return merged
    first: gettext.GNUTranslations | None = None
    # An installed package holds only the compiled .mo files (setup.py), a source checkout the .po files.
    for stem in sorted(
        {path.stem for path in folder.glob("*.po")} | {path.stem for path in folder.glob("*.mo")}
    ):
        catalog = _read_catalog(folder / f"{stem}.po")
        if first is None:
            first = catalog
        else:
            first.add_fallback(catalog)
    return first if first is not None else merged


def _read_catalog(po: Path) -> gettext.GNUTranslations:
    mo = po.with_suffix(".mo")
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as stream:
            return gettext.GNUTranslations(stream)
    # A source checkout: compile in memory. Babel is only needed here and in the build.
    from io import BytesIO

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as stream:
        catalog = read_po(stream, locale=po.parent.parent.name, domain=po.stem)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _initial_language() -> str:
    try:
        return choose_language()
    except ValueError:
        # A bad ACCEL_LANG is reported by the CLI (sync.commands) with its own message; until then, Russian.
        return DEFAULT_LANGUAGE


_current[0] = _initial_language()
