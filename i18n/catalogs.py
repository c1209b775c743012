"""The gettext catalogs: which part of the tree each domain covers, and extract / update / compile / check.

One domain per part of the tree, so that the people working on one wing edit one catalog::

    python -m i18n.catalogs update    # extract the messages of every domain and merge them into each .po
    python -m i18n.catalogs check     # exit 1 when a message has no Russian translation (tests do the same)
    python -m i18n.catalogs compile   # .po -> .mo (the build does this: setup.py)

Messages are found by Babel's Python extractor through the keywords ``_``, ``N_`` and ``ngettext``
(see :mod:`i18n`). English is the source language, so only Russian has catalogs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
#: ``pgettext(context, message)``: a short message that means one thing in one place (a job's name, an outcome)
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "gettext": None, "pgettext": ((1, "c"), 2)}
TRANSLATED = ("ru",)

#: domain -> the folders and modules (relative to the repository root) whose messages it holds
DOMAINS: dict[str, tuple[str, ...]] = {
    "commands": ("sync/commands", "cli.py", "i18n/click_messages.py"),
    "roster": ("sync/roster", "sync/commands/roster.py"),
    "provision": ("sync/provision", "course_templates", "sync/commands/provision.py"),
    "indicators": ("sync/indicators", "sync/commands/indicators.py"),
    "report": ("sync/indicators/report/html.py", "sync/indicators/report/templates"),
    "service": ("sync/service", "sync/commands/service.py"),
    "core": ("sync/core", "integration"),
}


@dataclass(frozen=True)
class Gap:
    """A message of the code that its catalog does not translate (or translates with other placeholders)."""

    domain: str
    msgid: str
    where: str
    why: str

    def __str__(self) -> str:
        return f"{self.domain}: {self.where}: {self.why}: {self.msgid!r}"


def po_path(domain: str, language: str = "ru") -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


def owner(relative: str) -> str | None:
    """The domain whose most specific entry covers ``relative`` (a path from the repository root)."""
    best: tuple[int, str] | None = None
    for domain, entries in DOMAINS.items():
        for entry in entries:
            if relative == entry or relative.startswith(entry.rstrip("/") + "/"):
                if best is None or len(entry) > best[0]:
                    best = (len(entry), domain)
    return best[1] if best else None


#: Babel extraction methods by file pattern: Python code, and the Jinja2 templates of reports
METHODS = [
    ("**.py", "python"),
    ("**.html", "jinja2.ext:babel_extract"),
    ("**.j2", "jinja2.ext:babel_extract"),
]


def extract(domain: str) -> Catalog:
    """The messages the code of ``domain`` marks, with where each is used.

    A file belongs to the domain of the most specific entry that covers it, so a folder can be a domain of
    its own inside another's (e.g. a report's templates).
    """
    catalog = Catalog(domain=domain, project="accel")
    options = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
    for entry in DOMAINS[domain]:
        path = ROOT / entry
        if not path.exists():
            continue  # a domain's folder not made yet (or gone): it marks nothing
        if path.is_dir():
            found = [
                (f"{entry}/{filename}", lineno, message, comments, context)
                for filename, lineno, message, comments, context in extract_from_dir(
                    path,
                    method_map=METHODS,
                    options_map={"**.html": options, "**.j2": options},
                    keywords=KEYWORDS,
                )
            ]
        else:
            method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
            found = [
                (entry, lineno, message, comments, context)
                for lineno, message, comments, context in extract_from_file(
                    method, path, keywords=KEYWORDS, options=options
                )
            ]
        for where, lineno, message, comments, context in found:
            if owner(where) != domain:
                continue
            catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    return catalog


def read(domain: str, language: str = "ru") -> Catalog:
    path = po_path(domain, language)
    if not path.exists():
        return Catalog(locale=language, domain=domain, project="accel")
    with path.open("rb") as stream:
        return read_po(stream, locale=language, domain=domain)


def update(domain: str, language: str = "ru") -> Catalog:
    """Merge the code's messages into the catalog: new ones empty, gone ones dropped (kept as obsolete)."""
    template = extract(domain)
    catalog = read(domain, language)
    # Keep the header's date: an update that changes no message should change no line of the file.
    template.creation_date = catalog.creation_date
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    # A fuzzy header would be dropped from the .mo, and with it the Russian plural rule.
    catalog.fuzzy = False
    catalog.project, catalog.version = "accel", ""
    catalog.header_comment = f"# Russian messages of accel (domain: {domain}); see i18n/catalogs.py."
    catalog.last_translator = catalog.language_team = "accel team"
    catalog.msgid_bugs_address = ""
    path = po_path(domain, language)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        write_po(stream, catalog, width=110, ignore_obsolete=True)
    return catalog


def compile_all(languages: Iterable[str] = TRANSLATED) -> list[Path]:
    written = []
    for language in languages:
        for po in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
            with po.open("rb") as stream:
                catalog = read_po(stream, locale=language, domain=po.stem)
            mo = po.with_suffix(".mo")
            with mo.open("wb") as stream:
                write_mo(stream, catalog, use_fuzzy=False)
            written.append(mo)
    return written


def _placeholders(text: str) -> set[str]:
    import string

    names = set()
    for _literal, field, _spec, _conv in string.Formatter().parse(text):
        if field is not None:
            names.add(field)
    return names


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else (str(message.id),)


def gaps(domain: str, language: str = "ru") -> Iterator[Gap]:
    """Every message of the code that the catalog leaves untranslated, fuzzy, or with other placeholders."""
    template = extract(domain)
    catalog = read(domain, language)
    for message in template:
        if not message.id:
            continue
        ids = _ids(message)
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:3])
        found = catalog.get(message.id, context=message.context)
        if found is None:
            yield Gap(domain, ids[0], where, "no entry in the catalog")
            continue
        strings = _ids_strings(found)
        if found.fuzzy or not all(strings):
            yield Gap(domain, ids[0], where, "not translated" if not found.fuzzy else "fuzzy")
            continue
        wanted = set().union(*(_placeholders(i) for i in ids))
        for text in strings:
            if _placeholders(text) - wanted:
                yield Gap(domain, ids[0], where, f"placeholders differ: {sorted(_placeholders(text))}")
                break


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    domains = argv[1:] or list(DOMAINS)
    if command == "update":
        for domain in domains:
            catalog = update(domain)
            missing = sum(1 for m in catalog if m.id and not all(_ids_strings(m)))
            print(f"{po_path(domain)}: {len(catalog)} messages, {missing} untranslated")
        return 0
    if command == "compile":
        for path in compile_all():
            print(path)
        return 0
    if command == "check":
        found = [gap for domain in domains for gap in gaps(domain)]
        for gap in found:
            print(gap)
        print(f"{len(found)} untranslated message(s)")
        return 1 if found else 0
    print(__doc__)
    return 2


def _ids_strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, (list, tuple)):
        return tuple(str(s or "") for s in message.string)
    return (message.string or "",)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
