"""The command line's frame: the language (--lang, ACCEL_LANG, the locale, else Russian) set before click
shows anything, help and click's own messages translated, global options after the command, --version, shell
completion, and the frame's own messages in Russian."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from babel.messages.extract import extract_from_file
from click.testing import CliRunner, Result

import i18n
from i18n import click_messages, set_language
from i18n.catalogs import KEYWORDS
from integration.functions import required_functions
from sync.commands import main, version_text
from sync.commands.context import TESTED_MOODLE_RELEASES, release_tested
from sync.commands.frame import AccelCommand, AccelGroup, adopt, hoist_global_options, translate_click
from tests.fake_moodle import FakeMoodle
from tests.helpers import recording

ROOT = Path(__file__).resolve().parent.parent
ROSTER = ROOT / "examples" / "roster-kamchatka-2021.csv"

#: a server's environment that says nothing of its reader's language
SERVER_LOCALE = {"ACCEL_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANGUAGE": None, "LANG": "C.UTF-8"}


def accel(*args: str, **env: str | None) -> Result:
    """`accel` as typed, with these environment variables (None: unset) and no site."""
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def one_line(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(autouse=True)
def _no_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("MOODLE_URL", "MOODLE_TOKEN", "MOODLE_TOKEN_FILE", "ACCEL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    yield


# -- the language ----------------------------------------------------------------------------------------


def test_without_a_choice_help_and_usage_errors_are_russian() -> None:
    top = accel("--help", **SERVER_LOCALE)
    assert top.exit_code == 0
    assert top.output.startswith("Использование: accel [OPTIONS] COMMAND [ARGS]...")
    for russian in ("Помощник акселератора", "Параметры:", "Команды:", "Настройки потока (файл TOML)"):
        assert russian in top.output
    assert "Показать эту справку и выйти." in top.output and "Show this message" not in top.output

    group = accel("roster", "--help", **SERVER_LOCALE)
    assert group.exit_code == 0
    assert group.output.startswith("Использование: accel roster [OPTIONS] COMMAND [ARGS]...")
    assert "Команды:" in group.output and "Показать эту справку и выйти." in group.output

    missing = accel("roster", "sync", **SERVER_LOCALE)
    assert missing.exit_code == 2
    assert "Справка: «accel roster sync --help»." in missing.output
    assert "Ошибка: Не указан аргумент 'FILE'." in missing.output

    unknown = accel("doctor", "--jsno", **SERVER_LOCALE)
    assert unknown.exit_code == 2
    assert "Ошибка: Нет такого параметра: '--jsno'. Может быть, имелось в виду '--json'?" in one_line(unknown)


@pytest.mark.parametrize("choice", [["--lang", "en"], ["--lang=en"], ["--lang", "EN"]])
def test_lang_en_gives_english_whatever_the_locale(choice: list[str]) -> None:
    env = {**SERVER_LOCALE, "LANG": "ru_RU.UTF-8"}
    top = accel(*choice, "--help", **env)
    assert top.output.startswith("Usage: accel [OPTIONS]") and "Show this message and exit." in top.output
    assert "Cohort configuration (TOML)" in top.output
    missing = accel(*choice, "roster", "sync", **env)
    assert missing.exit_code == 2 and "Error: Missing argument 'FILE'." in missing.output


def test_accel_lang_chooses_and_lang_wins_over_it() -> None:
    assert accel("--help", **{**SERVER_LOCALE, "ACCEL_LANG": "en"}).output.startswith("Usage:")
    assert accel("--lang", "ru", "--help", **{**SERVER_LOCALE, "ACCEL_LANG": "en"}).output.startswith(
        "Использование:"
    )
    assert accel("--help", **{**SERVER_LOCALE, "LANG": "en_US.UTF-8"}).output.startswith("Usage:")


def test_lang_after_the_command_sets_the_language_of_its_help() -> None:
    result = accel("roster", "sync", "--help", "--lang", "ru", **{**SERVER_LOCALE, "ACCEL_LANG": "en"})
    assert result.exit_code == 0
    assert result.output.startswith("Использование: accel roster sync [OPTIONS] FILE")


def test_a_language_accel_does_not_speak_is_a_usage_error() -> None:
    result = accel("--lang", "fr", "doctor", **{**SERVER_LOCALE, "ACCEL_LANG": "en"})
    assert result.exit_code == 2
    assert (
        "Error: Invalid value for '--lang': 'fr' is not a language accel speaks (choose one of: ru, en)."
        in result.output
    )
    result = accel("doctor", **{**SERVER_LOCALE, "ACCEL_LANG": "fr", "LANG": "en_US.UTF-8"})
    assert result.exit_code == 2
    assert "ACCEL_LANG='fr' is not a language accel speaks" in result.output
    assert accel("--lang", "fr", "--help", **SERVER_LOCALE).exit_code == 2
    russian = accel("--lang", "fr", "doctor", **SERVER_LOCALE)
    assert "Ошибка: Неверное значение '--lang': 'fr' — такого языка accel не знает" in one_line(russian)


def test_the_installed_command_speaks_russian_on_a_server_and_english_when_asked() -> None:
    script = Path(sys.executable).with_name("accel")
    env = {k: v for k, v in os.environ.items() if k not in SERVER_LOCALE} | {"LANG": "C.UTF-8"}
    shown = subprocess.run([script, "--help"], env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.startswith("Использование: accel [OPTIONS] COMMAND [ARGS]...")
    english = subprocess.run(
        [script, "doctor", "--lang", "en"], env=env, capture_output=True, text=True, check=False
    )
    assert english.returncode == 2
    assert english.stderr.startswith("Error: MOODLE_URL is not set"), english.stderr


# -- help at display time ---------------------------------------------------------------------------------


def test_click_looks_its_messages_up_in_accels_catalogs() -> None:
    translate_click()
    import click.core
    import click.exceptions
    import click.parser
    import click.types

    assert click.exceptions._ is i18n._ and click.core.ngettext is i18n.ngettext  # type: ignore[attr-defined]
    set_language("ru")
    with pytest.raises(click.BadParameter) as caught:
        click.IntRange(min=1).convert("many", None, None)
    assert caught.value.format_message() == "Неверное значение: 'many' — это не число."


def test_a_plain_click_command_added_to_a_group_shows_its_help_translated() -> None:
    @click.command(help=i18n.N_("Machine-readable output."))
    @click.option("--json", is_flag=True, help=i18n.N_("Machine-readable output."))
    def plain(json: bool) -> None:
        raise AssertionError("only its help is shown")

    @click.group()
    def inner() -> None:
        pass

    inner.add_command(plain)
    root = AccelGroup("root")
    root.add_command(inner)
    assert type(inner) is AccelGroup and type(plain) is AccelCommand  # re-classed in place
    assert adopt(plain) is plain
    russian = {"ACCEL_LANG": "ru"}
    shown = CliRunner().invoke(root, ["inner", "plain", "--help"], env=russian).output
    assert shown.count("Вывод для программ (JSON).") == 2, shown
    listed = CliRunner().invoke(root, ["inner", "--help"], env=russian).output
    assert "plain  Вывод для программ (JSON)." in listed
    # The declared text is still the English msgid: shown again in English, it is English.
    assert plain.help == "Machine-readable output."
    assert "Machine-readable output." in CliRunner().invoke(root, ["inner", "plain", "--help"]).output


def test_click_messages_are_exactly_the_installed_clicks() -> None:
    """i18n/click_messages.py lists every message of click users can meet and NOT_SHOWN the rest: an upgrade of
    click that adds or rewords a message fails here instead of showing it in English."""
    in_click: set[str] = set()
    for source in Path(click.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "ngettext")
            ):
                texts = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)]
                in_click.update(t for t in texts if isinstance(t, str))
    in_click.add("required")  # click translates it through a variable (_(extra["required"]))
    listed: set[str] = set()
    for _line, message, _comments, _context in extract_from_file(
        "python", ROOT / "i18n" / "click_messages.py", keywords=KEYWORDS
    ):
        listed.update([message] if isinstance(message, str) else message)
    assert not (listed & set(click_messages.NOT_SHOWN))
    assert listed - in_click == set(), "listed but not click's (any more)"
    assert in_click - listed - set(click_messages.NOT_SHOWN) == set(), "click's, neither listed nor NOT_SHOWN"


# -- global options after the command ---------------------------------------------------------------------


def test_global_options_typed_after_the_command_work(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    for args in (
        ["status", "--config", str(missing)],
        ["status", f"--config={missing}"],
        ["--config", str(tmp_path / "other.toml"), "status", "--config", str(missing)],  # the last one wins
    ):
        result = accel(*args)
        assert result.exit_code == 2, result.output
        assert f"cohort configuration {missing} not found" in result.output
    result = accel("roster", "check", str(ROSTER), "-v", "--lang", "en")
    assert result.exit_code == 0, result.output


def test_after_a_double_dash_nothing_moves() -> None:
    result = accel("roster", "check", "--", "--config")
    assert result.exit_code == 2
    assert "--config: no such file" in result.output


def _tree() -> AccelGroup:
    """A root like `main` (with a global option added later, --concurrency) and commands with options of
    their own, one named like a global option."""

    @click.group(cls=AccelGroup)
    @click.option("--config")
    @click.option("-v", "--verbose", count=True)
    @click.option("--stats", is_flag=True)
    @click.option("--concurrency", type=int)
    def root(**_options: object) -> None:
        pass

    @root.group()
    def roster() -> None:
        pass

    @roster.command("sync")
    @click.argument("file")
    @click.option("--removal")
    @click.option("-n", "--limit", type=int)
    @click.option("--apply", is_flag=True)
    def sync(**_options: object) -> None:
        pass

    @root.command()
    @click.option("--config", "own_config")
    def report(**_options: object) -> None:
        pass

    return root


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        (
            ["roster", "sync", "f.csv", "-v", "--lang", "en"],
            ["-v", "--lang", "en", "roster", "sync", "f.csv"],
        ),
        (
            ["roster", "sync", "--config", "x.toml", "f.csv"],
            ["--config", "x.toml", "roster", "sync", "f.csv"],
        ),
        (["roster", "-vv", "sync", "f.csv", "--stats"], ["-vv", "--stats", "roster", "sync", "f.csv"]),
        (["roster", "sync", "f.csv", "--concurrency=4"], ["--concurrency=4", "roster", "sync", "f.csv"]),
        # a command's option keeps its value, even one that looks like an option
        (
            ["roster", "sync", "--removal", "--config", "f.csv", "--apply"],
            ["roster", "sync", "--removal", "--config", "f.csv", "--apply"],
        ),
        (["roster", "sync", "-n", "5", "-v", "f.csv"], ["-v", "roster", "sync", "-n", "5", "f.csv"]),
        (["roster", "sync", "-n5", "-v", "f.csv"], ["-v", "roster", "sync", "-n5", "f.csv"]),
        # a command's own option named like a global one is the command's
        (["report", "--config", "r.toml", "-v"], ["-v", "report", "--config", "r.toml"]),
        # the root's options before the command stay first, with their values
        (
            ["--config", "roster", "roster", "sync", "f", "--stats"],
            ["--config", "roster", "--stats", "roster", "sync", "f"],
        ),
        # `--` ends the options; an unknown command or option is left for click to name
        (["roster", "sync", "--", "--config", "x"], ["roster", "sync", "--", "--config", "x"]),
        (["rostr", "sync", "-v"], ["rostr", "sync", "-v"]),
        (["roster", "sync", "--bogus", "-v"], ["-v", "roster", "sync", "--bogus"]),
        (["--help"], ["--help"]),
        ([], []),
    ],
)
def test_hoisting_global_options(typed: list[str], parsed: list[str]) -> None:
    root = _tree()
    root.params.append(click.Option(["--lang"]))
    with click.Context(root) as ctx:
        assert hoist_global_options(root, ctx, typed) == parsed


# -- --version and shell completion -----------------------------------------------------------------------


def test_version_names_the_tested_moodle_releases() -> None:
    result = accel("--version")
    assert result.exit_code == 0
    assert result.output.startswith("accel ") and "tested with Moodle 5.1" in result.output
    assert result.output.strip() == version_text()
    russian = accel("--version", **SERVER_LOCALE)
    assert "проверен с Moodle 5.1" in russian.output
    assert accel("roster", "--version").output == result.output  # a global option, after the command too
    assert TESTED_MOODLE_RELEASES == ("5.1",)


@pytest.mark.parametrize(
    ("release", "tested"),
    [
        ("5.1+ (Build: 20251017)", True),
        ("5.1", True),
        ("5.1.2 (Build: 2026)", True),
        ("5.10", False),
        ("4.5", False),
        (None, False),
    ],
)
def test_tested_release(release: str | None, tested: bool) -> None:
    assert release_tested(release) is tested


def test_bash_completion_script_from_the_installed_command() -> None:
    script = Path(sys.executable).with_name("accel")
    done = subprocess.run(
        [script],
        env={**os.environ, "_ACCEL_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert (
        "_accel_completion()" in done.stdout
        and "complete -o nosort -F _accel_completion accel" in done.stdout
    )


@pytest.mark.parametrize(
    ("shell", "marker"), [("zsh", "#compdef accel"), ("fish", "complete --no-files --command accel")]
)
def test_zsh_and_fish_completion_scripts(shell: str, marker: str) -> None:
    result = CliRunner().invoke(main, [], prog_name="accel", env={"_ACCEL_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0
    assert marker in result.output


def test_completion_completes_commands_and_describes_them_in_the_language() -> None:
    env = {
        "_ACCEL_COMPLETE": "zsh_complete",
        "COMP_WORDS": "accel doc",
        "COMP_CWORD": "1",
        "ACCEL_LANG": "ru",
    }
    result = CliRunner().invoke(main, [], prog_name="accel", env=env)
    assert result.output.splitlines()[:2] == ["plain", "doctor"]
    assert result.output.splitlines()[2].startswith("Проверить подключение, токен")


# -- the frame's messages in Russian ----------------------------------------------------------------------


def test_configuration_errors_in_russian() -> None:
    result = accel("doctor", ACCEL_LANG="ru")
    assert result.exit_code == 2
    assert result.output.startswith("Ошибка: не задан MOODLE_URL: укажите адрес сайта")
    result = accel("doctor", ACCEL_LANG="ru", MOODLE_URL="https://moodle.example.org")
    assert "Ошибка: нет токена Moodle" in result.output


def test_doctor_in_russian_with_plural_forms(run_cli: Callable[..., Result], fake_moodle: FakeMoodle) -> None:
    result = run_cli("--lang", "ru", "doctor")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Сайт:    Kamchatka Accelerator (https://moodle.example.org)"
    assert lines[1].startswith("Moodle:  5.1+ (Build: 20251017) (версия ")
    assert lines[2].startswith("Токен:   пользователь admin (id 2, ") and "администратор сайта" in lines[2]
    total = len(required_functions())
    forms = {1: "функция, нужная", 2: "функции, нужные", 5: "функций, нужных"}
    form = forms[
        1
        if total % 10 == 1 and total % 100 != 11
        else 2
        if 2 <= total % 10 <= 4 and not 12 <= total % 100 <= 14
        else 5
    ]
    assert lines[3] == f"Служба: доступны все {total} {form} программе." or total % 10 == 1

    full = {
        f["name"] for f in recording("core_webservice_get_site_info__full_token")["response"]["functions"]
    }
    fake_moodle.service_functions = full - {"core_user_create_users"}
    one = run_cli("--lang", "ru", "doctor")
    assert one.exit_code == 1
    assert "Служба: не хватает 1 функции из " in one.output
    assert "  - core_user_create_users  (нужна для: " in one.output
    fake_moodle.service_functions = full - {"core_user_create_users", "core_user_update_users"}
    assert "Служба: не хватает 2 функций из " in run_cli("--lang", "ru", "doctor").output


def test_doctor_says_when_the_sites_release_was_not_tested(
    run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.fake_moodle.core as fake_core

    assert "accel was tested with Moodle" not in run_cli("doctor").output
    monkeypatch.setattr(fake_core, "RELEASE", "4.5.3 (Build: 20250303)")
    result = run_cli("doctor")
    assert "accel was tested with Moodle 5.1; this release may answer differently." in result.output
    payload = run_cli("doctor", "--json").output
    assert '"release_tested": false' in payload and '"tested_releases": [\n    "5.1"\n  ]' in payload
