"""benchmarks/real_site.py: the cohort it generates, and that uploaduser.php is given the same work as accel.

The benchmark itself needs the real site (it is run by hand); what can be checked here is its input: the
roster is valid for `accel roster sync`, and the upload-users CSV, read by accel's own reader (which knows
Moodle's bulk-upload format), holds the same people with the same roles, modules, teams and mentors' teams.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

from sync.roster.read import Roster, read_roster

ROOT = Path(__file__).resolve().parent.parent


def benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("real_site", ROOT / "benchmarks" / "real_site.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_site", module)
    spec.loader.exec_module(module)
    return module


def test_the_cohort_has_the_shape_of_issue_11() -> None:
    bench = benchmark()
    people = bench.make_people(1200, random.Random("a"))
    roles = Counter(p.role for p in people)
    assert roles == {"участник": 1200, "наставник": 10, "эксперт": 5}
    assert len({(p.lastname, p.firstname) for p in people}) == len(people)  # no namesake inside a cohort
    assert Counter(p.team for p in people if p.role == "участник") == dict.fromkeys(range(50), 24)
    mentored = [t for p in people for t in p.teams]
    assert sorted(mentored) == list(range(50))
    other_run = bench.make_people(1200, random.Random("b"))
    assert not {p.lastname for p in people} & {p.lastname for p in other_run}


def test_uploaduser_gets_the_same_people_as_accel(tmp_path: Path) -> None:
    bench = benchmark()
    people = bench.make_people(1200, random.Random("c"))
    bench.write_roster(tmp_path / "roster.csv", people, "bmtest")
    shortnames = {n: f"BMTESTUP-M{n}" for n in (1, 2, 3)}
    enrolments = bench.write_uploaduser_csv(tmp_path / "upload.csv", people, "bmtestup", shortnames)
    roster = read_roster(tmp_path / "roster.csv")
    upload = read_roster(tmp_path / "upload.csv", course_modules={v: k for k, v in shortnames.items()})
    assert roster.format == "table" and not roster.problems
    assert upload.format == "moodle-upload" and len(upload.people) == 1215
    # Districts are accel's groupings, which uploaduser.php cannot make: the only difference.
    assert {p.message.split("«")[0] for p in upload.errors} == {"team "}
    assert all("has no district" in p.message for p in upload.errors)

    def work(r: Roster) -> dict[tuple[str, str], tuple[object, ...]]:
        return {
            (p.lastname, p.firstname): (p.role, p.modules, p.team, p.mentor_teams, p.middlename)
            for p in r.people
        }

    assert work(upload) == work(roster)
    assert enrolments == 1200 * 3 + 10 * 3 + 5
