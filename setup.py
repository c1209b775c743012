"""Build hook: compile the gettext catalogs (i18n/locale/*/LC_MESSAGES/*.po) into the .mo files the package ships.

Everything else about the package is in pyproject.toml. An editable install (the dev set-up) skips this: a
source checkout reads the .po files directly (i18n._read_catalog).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCatalogs(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        # Babel is a build requirement (pyproject.toml [build-system]) as well as a runtime one.
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in sorted(Path("i18n/locale").glob("*/LC_MESSAGES/*.po")):
            language = po.parent.parent.name
            with po.open("rb") as stream:
                catalog = read_po(stream, locale=language, domain=po.stem)
            target = Path(self.build_lib) / po.with_suffix(".mo")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as stream:
                write_mo(stream, catalog, use_fuzzy=False)
            # The install reads the .mo alone: a wheel's files all get the time of the install, so a .po
            # beside its .mo could look newer and be compiled again at each start (i18n._read_catalog).
            (Path(self.build_lib) / po).unlink(missing_ok=True)


setup(cmdclass={"build_py": BuildWithCatalogs})
