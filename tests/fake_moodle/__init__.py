"""The stateful fake Moodle site; importing the package registers every area's handlers."""

from __future__ import annotations

import importlib
import pkgutil

from tests.fake_moodle.core import ADMIN_ID, TOKEN, URL, FakeMoodle, Fault, handler

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ADMIN_ID", "TOKEN", "URL", "FakeMoodle", "Fault", "handler"]
