"""Installs a user can reproduce (README, "Set-up (two commands)"): constraints.txt pins every package the
product and its test extra declare, at versions that satisfy pyproject.toml; an installed package, which
holds only the compiled catalogs, speaks Russian from them. (.ci/run installs the built package and checks
it with .ci/installed-check.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from packaging.requirements import Requirement
from packaging.version import Version

import i18n

ROOT = Path(__file__).resolve().parent.parent


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and name.strip() and version.strip(), f"constraints.txt: not a pin: {line!r}"
        assert _name(name) not in pins, f"constraints.txt: {name} pinned twice"
        pins[_name(name)] = Version(version.strip())
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def test_every_declared_dependency_is_pinned_at_a_version_it_accepts() -> None:
    pins = _pins()
    declared = _declared()
    assert declared
    for requirement in declared:
        pinned = pins.get(_name(requirement.name))
        assert pinned is not None, (
            f"{requirement.name} is declared in pyproject.toml but not in constraints.txt"
        )
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"constraints.txt pins {requirement.name} {pinned}, outside pyproject.toml's {requirement.specifier}"
        )


def test_the_pins_are_what_this_environment_runs() -> None:
    """The tests run on the pinned versions (the .venv of set-up command 2), so the pins are the tested ones."""
    from importlib.metadata import PackageNotFoundError, version

    for name, pinned in _pins().items():
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            pytest.fail(f"constraints.txt pins {name}, which is not installed here")
        assert installed == pinned, f"{name}: {installed} installed, constraints.txt pins {pinned}"


def test_an_installed_package_reads_its_compiled_catalogs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """setup.py's build hook ships the .mo files without their .po: i18n finds the catalogs by the .mo."""
    folder = tmp_path / "ru" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    source = ROOT / "i18n" / "locale" / "ru" / "LC_MESSAGES" / "report.po"
    with source.open("rb") as stream:
        catalog = read_po(stream, locale="ru", domain="report")
    with (folder / "report.mo").open("wb") as stream:
        write_mo(stream, catalog, use_fuzzy=False)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    translations = i18n._load("ru")
    assert translations.gettext("Grant indicators — {cohort}") == "Показатели гранта — {cohort}"
    forms = [
        translations.ngettext("{indicator} — {count} record", "{indicator} — {count} records", n)
        for n in (1, 3, 5)
    ]
    assert forms == [
        "{indicator} — {count} запись",
        "{indicator} — {count} записи",
        "{indicator} — {count} записей",
    ]
