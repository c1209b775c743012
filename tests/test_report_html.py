"""The HTML report (sync/indicators/report/html.py and its Jinja2 templates): the page `accel report --format
html` writes from the fake site's gathered cohort, in English and in Russian, opened in headless Chromium;
what people typed on the site is escaped and only the product's own links are live."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import Result

from i18n import catalogs, set_language
from sync.indicators.models import (
    Evidence,
    IndicatorReport,
    IndicatorResult,
    MentorRow,
    PendingItem,
    Period,
    PlaceRow,
    TeamRow,
)
from sync.indicators.report.html import CELL_COLORS, is_own_link, render_html
from sync.indicators.report.model import Report
from tests.fake_moodle import FakeMoodle
from tests.fake_moodle.activities import submit
from tests.helpers import EXAMPLE, gathered, ts

CHROMIUM = "/usr/bin/chromium"
SITE = "https://moodle.example.org"
TEMPLATES = Path(__file__).resolve().parent.parent / "sync" / "indicators" / "report" / "templates"


class Page(HTMLParser):
    """A rendered page as a browser reads it: its elements, their attributes, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.texts).append(data)

    @property
    def hrefs(self) -> list[str]:
        return [attrs["href"] for tag, attrs in self.tags if "href" in attrs]

    def text_nodes(self) -> set[str]:
        return {t.strip() for t in self.texts if t.strip()}


@pytest.fixture
def two_snapshots(cohort_site: FakeMoodle, run_cli: Callable[..., Result]) -> FakeMoodle:
    """The cohort gathered twice. In between, team Шаромы (group 1) resubmitted its graded idea (assignment
    1): it waits again, and the over-time chart has two points."""
    gathered(run_cli)
    submit(cohort_site, 1, groupid=1, when=ts(2022, 3, 20))
    gathered(run_cli)
    return cohort_site


@pytest.fixture
def default_language(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """accel as a coordinator runs it: no language asked for (no ACCEL_LANG, no locale), so Russian. (The
    suite's own default is English.)"""
    for name in ("ACCEL_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    set_language("ru")
    yield
    set_language("en")


def html_report(run_cli: Callable[..., Result], out: Path, *options: str) -> str:
    result = run_cli("--config", str(EXAMPLE), *options, "report", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def team_cells(page: str, assignment: str) -> dict[str, str]:
    """The teams' grid: team -> the text of its cell for ``assignment``."""
    return dict(re.findall(rf"<title>([^<]+?) — {assignment}: ([^<]+)</title>", page))


def cell_colour(page: str, team: str, assignment: str) -> str:
    found = re.search(rf'fill="(#[0-9a-f]+)" stroke="#90a4ae"><title>{team} — {assignment}:', page)
    assert found, (team, assignment)
    return found.group(1)


# -------------------------------------------------------------------------------------- the report's page


def test_the_page_in_english(
    two_snapshots: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    page = html_report(run_cli, tmp_path / "report.html")
    assert page.startswith("<!DOCTYPE html>\n")
    assert '<html lang="en">' in page
    assert page.count('<svg class="chart"') == 3
    assert "<script src" not in page and "http://" not in page.split("<body>")[0]  # self-contained
    assert "<title>Grant indicators — Камчатка 2021</title>" in page
    assert "<h2>Work waiting for a review</h2>" in page
    # The teams' grid: team Шаромы's consultation log, answered with a review and no grade, is coloured as
    # reviewed, not "submitted, waiting for a grade"; team Эссо's is waiting.
    cells = team_cells(page, "Consultation log")
    assert cells == {"Команда «Шаромы»": "reviewed: feedback without a grade", "Команда «Эссо»": "submitted"}
    assert cell_colour(page, "Команда «Шаромы»", "Consultation log") == CELL_COLORS["graded"][0]
    assert cell_colour(page, "Команда «Эссо»", "Consultation log") == CELL_COLORS["submitted"][0]
    # The resubmitted idea waits again, said in the pending table (the activity's name is the site's).
    assert "<td>Идея проекта и дерево проблем (submitted again)</td>" in page
    assert "Programme participants — 8 records" in page
    assert not re.search(r"\d,\d+ ?%", page)  # English decimal points


def test_the_page_in_russian_by_default(
    two_snapshots: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path, default_language: None
) -> None:
    page = html_report(run_cli, tmp_path / "report.html")
    assert '<html lang="ru">' in page
    assert "<title>Показатели гранта — Камчатка 2021</title>" in page
    for heading in ("Показатели и план", "Команды", "Наставники", "Районы и сёла", "Работы, ждущие проверки"):
        assert f"<h2>{heading}</h2>" in page
    assert "<th>Показатель</th><th>План</th><th>Факт</th><th>% плана</th>" in page
    cells = team_cells(page, "Журнал консультаций")
    assert cells["Команда «Эссо»"] == "сдано"
    assert cell_colour(page, "Команда «Шаромы»", "Журнал консультаций") == CELL_COLORS["graded"][0]
    assert "оценено или проверено (отзыв без оценки)" in page  # the grid's legend
    assert "<th>Доработанный проект</th>" in page
    assert "<td>Идея проекта и дерево проблем (сдано повторно)</td>" in page
    assert "28,6 %" in page and not re.search(r"\d\.\d+ ?%", page)  # decimal commas
    # The evidence's counts take the Russian plural forms: 1 запись, 2 записи, 8 записей.
    summaries = re.findall(r"<summary>([^<]+)</summary>", page)
    assert "Участники программы — 8 записей" in summaries
    assert any(s.endswith(" — 2 записи") for s in summaries)
    assert any(s.endswith(" — 1 запись") for s in summaries)
    # None of the page's own words is left in English (a text node that is a whole English message).
    english = {m.id for m in catalogs.extract("report") if isinstance(m.id, str) and m.id and "{" not in m.id}
    assert english and not english & Page(page).text_nodes()


def test_the_page_follows_the_language_of_the_moment() -> None:
    """One process can write both: each page is in the language chosen when it is rendered, <html lang> too."""
    set_language("en")
    page = render_html(_report_with(teams=[]))
    assert '<html lang="en">' in page and "Grant indicators — " in page
    set_language("ru")
    page = render_html(_report_with(teams=[]))
    assert '<html lang="ru">' in page and "Показатели гранта — " in page


@pytest.mark.browser
def test_html_charts_render_in_headless_chromium(
    two_snapshots: FakeMoodle, run_cli: Callable[..., Result], tmp_path: Path, default_language: None
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"headless Chromium not installed ({CHROMIUM} missing; apt-get install -y chromium)")
    out = tmp_path / "report.html"
    html_report(run_cli, out)
    profile = tmp_path / "chromium-profile"
    proc = subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--dump-dom", out.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    # The inline script ran after layout and found drawn marks in each of the three charts.
    assert 'data-charts="3"' in dom
    assert 'data-rendered="3"' in dom
    for chart in ("chart-progress", "chart-history", "chart-teams"):
        assert f'id="{chart}"' in dom
    assert 'data-marks="0"' not in dom
    assert '<html lang="ru">' in dom and "Показатели гранта — Камчатка 2021" in dom


# ------------------------------------------------------------------- what people typed, and the links


HOSTILE = '<script>alert("x")</script> & \'quoted\' "too"'


def _report_with(
    *,
    teams: list[TeamRow],
    evidence: Sequence[Evidence] = (),
    pending: Sequence[PendingItem] = (),
    text: str = "Камчатка",
) -> Report:
    result = IndicatorResult(
        key="participants",
        title="Participants",
        unit="people",
        value=3.0,
        target=10.0,
        percent=30.0,
        status="behind",
        status_text="behind",
        evidence=list(evidence),
        notes=[f"note: {text}"],
    )
    indicators = IndicatorReport(
        cohort="kam21",
        site_url=SITE,
        taken_at=ts(2022, 3, 1),
        period=Period(),
        period_label="the whole grant period",
        results=[result],
        teams=teams,
        mentors=[MentorRow(userid=5, name=f"mentor {text}", teams=[f"team {text}"], reviews=1)],
        districts=[PlaceRow(district=f"district {text}", participants=1, teams=1)],
        villages=[PlaceRow(district=f"district {text}", village=f"village {text}", participants=1, teams=1)],
        pending=list(pending),
        notes=[f"data note: {text}"],
        warnings=[f"warning: {text}"],
    )
    return Report(
        cohort="kam21",
        cohort_name=f"cohort {text}",
        timezone="Asia/Kamchatka",
        generated_at=ts(2022, 3, 2),
        snapshot_id=1,
        indicators=indicators,
    )


def test_what_people_typed_on_the_site_is_text_never_markup() -> None:
    """Team names, places, mentors, comments, partners: everything the site gave is escaped by the templates
    (autoescape), wherever it lands: table cells, chart labels and tooltips, notes, the page's title."""
    team = TeamRow(
        name=f"team {HOSTILE}",
        district=f"district {HOSTILE}",
        village=f"village {HOSTILE}",
        members=1,
        mentors=[f"mentor {HOSTILE}"],
        status={"m1-idea": f"status {HOSTILE}"},
        states={"m1-idea": "submitted"},
        overdue=[f"overdue {HOSTILE}"],
        url=f"{SITE}/group/members.php?group=1",
        done=1,
        total=1,
    )
    evidence = [
        Evidence(label=f"label {HOSTILE}", detail=f"detail {HOSTILE}", url=f"{SITE}/user/view.php?id=3")
    ]
    page = render_html(_report_with(teams=[team], evidence=evidence, text=HOSTILE))
    parsed = Page(page)
    # One script, the page's own check; no element came from the data.
    assert (
        len(parsed.scripts) == 1 and parsed.scripts[0].strip() == (TEMPLATES / "check.js").read_text().strip()
    )
    assert [tag for tag, _attrs in parsed.tags].count("script") == 1
    assert "<script>alert" not in page
    # Each typed text reads back whole, as text, where the page shows it.
    texts = parsed.text_nodes()
    for shown in (
        f"team {HOSTILE}", f"district {HOSTILE}", f"village {HOSTILE}", f"mentor {HOSTILE}",
        f"status {HOSTILE}", f"overdue {HOSTILE}", f"label {HOSTILE}", f"detail {HOSTILE}",
        f"note: {HOSTILE}", f"data note: {HOSTILE}", f"warning: {HOSTILE}",
        f"team {HOSTILE} — Project idea: status {HOSTILE}",  # the grid's tooltip
    ):  # fmt: skip
        assert shown in texts, shown
    assert any(t.startswith(f"Grant indicators — cohort {HOSTILE}") for t in texts)
    # No attribute value holds typed text (so a quote cannot end one).
    assert not any("alert" in value for _tag, attrs in parsed.tags for value in attrs.values())


def test_only_the_products_own_links_are_live() -> None:
    """A link is an <a href> only into the report's own Moodle site; any other address shows as text."""
    foreign = [
        "javascript:alert(1)",
        "https://elsewhere.example/phish",
        f"{SITE}.elsewhere.example/user/view.php?id=3",  # the site's name as the start of another host
        "//elsewhere.example/x",
        "data:text/html,<b>x</b>",
    ]
    evidence = [Evidence(label=f"item {i}", url=url) for i, url in enumerate(foreign)]
    evidence.append(Evidence(label="own", url=f"{SITE}/mod/data/view.php?id=5&rid=1"))
    pending = [
        PendingItem(
            team="team far", groupid=1, courseid=2, activity="Concept", activity_key="m1-concept",
            submitted_at=ts(2022, 2, 1), waited_hours=1.0, resubmitted=False, url="https://elsewhere.example/g",
        )
    ]  # fmt: skip
    team = TeamRow(
        name="team near", district="d", village="v", members=1, url=f"{SITE}/group/members.php?group=1"
    )
    page = render_html(_report_with(teams=[team], evidence=evidence, pending=pending))
    parsed = Page(page)
    assert sorted(parsed.hrefs) == sorted(
        [SITE, f"{SITE}/mod/data/view.php?id=5&rid=1", f"{SITE}/group/members.php?group=1"]
    )
    texts = parsed.text_nodes()
    assert {f"item {i}" for i in range(len(foreign))} | {"team far"} <= texts  # shown, as text
    assert "javascript:" not in page and "elsewhere.example" not in page


@pytest.mark.parametrize(
    ("url", "site", "live"),
    [
        (f"{SITE}/user/view.php?id=3", SITE, True),
        (f"{SITE}/user/view.php?id=3", f"{SITE}/", True),
        (SITE, SITE, True),
        ("https://school.example/moodle/mod/assign/view.php?id=1", "https://school.example/moodle", True),
        ("https://school.example/other/", "https://school.example/moodle", False),
        (f"{SITE}.evil.example/x", SITE, False),
        ("https://evil.example/x", SITE, False),
        ("javascript:alert(1)", SITE, False),
        ("/user/view.php?id=3", "", False),  # a report without a site address has no live links
        ("javascript:alert(1)", "javascript:alert(1)", False),
    ],
)
def test_is_own_link(url: str, site: str, live: bool) -> None:
    assert is_own_link(url, site) is live
