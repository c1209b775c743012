"""The client's bounded pool: real overlap, the bound, order, stopping, errors, counters, thread safety.

Overlap is proven without timing: the fake site, served over real HTTP, holds each request at a barrier until
the expected number of requests are inside it at once; a client that sent them one by one would break the
barrier (after its timeout) and the peak count would say so.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from integration.encoding import count_vars
from integration.errors import (
    Cancelled,
    ConfigurationError,
    InvalidParameter,
    MoodleError,
    MoodleUnreachable,
    UncertainWrite,
)
from integration.limits import measured_limit
from integration.pool import Outcome, first_error, results, run_tasks
from integration.transport import (
    DEFAULT_CONCURRENCY,
    DEFAULT_START_SPACING,
    FIXED_VARS,
    MAX_CONCURRENCY,
    MoodleClient,
    parse_concurrency,
)
from sync.commands import main
from sync.commands.context import AppContext
from tests.fake_moodle import FakeMoodle, handler
from tests.fake_moodle.core import invalid_parameter
from tests.fake_moodle.http import serve_over_http
from tests.helpers import make_client

BARRIER_TIMEOUT = 10.0


@handler("conc_echo")
def _echo(site: FakeMoodle, params: dict[str, Any]) -> Any:
    if params.get("fail") == "1":
        raise invalid_parameter()
    return {"value": params.get("value")}


@handler("conc_write")
def _write(site: FakeMoodle, params: dict[str, Any]) -> Any:
    return {"value": params.get("value")}


class Gate:
    """The fake's ``before_answer``: counts the requests inside the site and holds the first ``hold`` of them
    until they are all in (a barrier), so the peak shows how many the client really had in flight."""

    def __init__(self, hold: int, only: str = "conc_echo") -> None:
        self.hold = hold
        self.only = only
        self.barrier = threading.Barrier(hold, action=self._all_in, timeout=BARRIER_TIMEOUT)
        self.lock = threading.Lock()
        self.inside = 0
        self.peak = 0
        self.arrived = 0
        self.broken = False
        self.when_all_in: Callable[[], None] | None = None

    def _all_in(self) -> None:
        """Run by the barrier once all are in, before any of them goes on to be answered."""
        if self.when_all_in is not None:
            self.when_all_in()

    def __call__(self, wsfunction: str) -> None:
        if wsfunction != self.only:
            return
        with self.lock:
            self.inside += 1
            self.arrived += 1
            self.peak = max(self.peak, self.inside)
            held = self.arrived <= self.hold
        try:
            if held:
                try:
                    self.barrier.wait()
                except threading.BrokenBarrierError:
                    self.broken = True
        finally:
            with self.lock:
                self.inside -= 1


@pytest.fixture
def http_site() -> Iterator[tuple[FakeMoodle, str]]:
    site = FakeMoodle()
    with serve_over_http(site) as url:
        yield site, url


def http_client(site: FakeMoodle, url: str, **options: Any) -> MoodleClient:
    """A client over real HTTP that has had the site's first answer (until then it sends one call at a time)."""
    options.setdefault("sleep", lambda _s: None)
    client = MoodleClient(url, site.token, **options)
    client.site_info()
    site.calls.clear()  # the tests count their own requests
    client.stats.clear()
    return client


def echo(client: MoodleClient, value: int, **extra: Any) -> Any:
    return client.call("conc_echo", {"value": value, **extra})["value"]


# -- overlap and the bound ---------------------------------------------------------------------------------
def test_requests_overlap_up_to_the_concurrency_over_real_http(http_site: tuple[FakeMoodle, str]) -> None:
    site, url = http_site
    gate = Gate(hold=4)
    site.before_answer = gate
    client = http_client(site, url, concurrency=4)
    assert client.map(lambda n: echo(client, n), range(8)) == [str(n) for n in range(8)]
    assert not gate.broken, "the first four requests never were in the site at the same time"
    assert gate.peak == 4 and client.peak_in_flight == 4
    assert client.stats["conc_echo"] == 8 and client.request_count == 8


def test_never_more_requests_in_flight_than_the_concurrency(http_site: tuple[FakeMoodle, str]) -> None:
    site, url = http_site
    gate = Gate(hold=3)
    site.before_answer = gate
    client = http_client(site, url, concurrency=3)
    # Pools inside a pool still share the client's three slots.
    nested = client.map(lambda n: client.map(lambda m: echo(client, 10 * n + m), range(3)), range(4))
    assert nested == [[str(10 * n + m) for m in range(3)] for n in range(4)]
    assert not gate.broken
    assert gate.peak == 3 and client.peak_in_flight == 3


def test_the_connection_pool_is_sized_to_the_concurrency(
    http_site: tuple[FakeMoodle, str], caplog: pytest.LogCaptureFixture
) -> None:
    site, url = http_site
    gate = Gate(hold=12)
    site.before_answer = gate
    client = http_client(site, url, concurrency=12)
    adapter: Any = client.session.get_adapter(url)
    assert adapter._pool_maxsize == 12  # requests' default keeps 10 connections and discards the others
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        assert client.map(lambda n: echo(client, n), range(24)) == [str(n) for n in range(24)]
        assert client.map(lambda n: echo(client, n), range(24)) == [str(n) for n in range(24)]
    assert not gate.broken and gate.peak == 12
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()], caplog.text


# -- concurrency 1 is today's loop ------------------------------------------------------------------------
def test_concurrency_one_is_the_plain_loop_in_the_calling_thread(fake_moodle: FakeMoodle) -> None:
    threads: list[str] = []
    client = make_client(fake_moodle, concurrency=1)

    def task(n: int) -> Any:
        threads.append(threading.current_thread().name)
        return echo(client, n)

    assert client.map(task, range(6)) == [str(n) for n in range(6)]
    assert set(threads) == {threading.current_thread().name}
    assert [params["value"] for _, params in fake_moodle.calls] == [str(n) for n in range(6)]
    four = make_client(fake_moodle, concurrency=4)
    assert four.map(lambda n: echo(four, n), range(6)) == client.map(lambda n: echo(client, n), range(6))
    assert client.peak_in_flight == 1


def test_concurrency_one_stops_at_the_first_failure_like_a_loop(fake_moodle: FakeMoodle) -> None:
    client = make_client(fake_moodle, concurrency=1)
    with pytest.raises(InvalidParameter):
        client.map(lambda n: echo(client, n, fail=int(n == 2)), range(5))
    assert [params["value"] for _, params in fake_moodle.calls] == ["0", "1", "2"]


# -- order ------------------------------------------------------------------------------------------------
def test_results_come_in_task_order_whatever_order_they_finish_in() -> None:
    finished_others = threading.Event()
    done_order: list[int] = []
    count = threading.Semaphore(0)

    def task(n: int) -> Callable[[], int]:
        def run() -> int:
            if n == 0:
                assert finished_others.wait(BARRIER_TIMEOUT), "the other tasks never finished"
            else:
                count.release()
            return n * n

        return run

    def watch() -> None:
        for _ in range(3):
            count.acquire()
        finished_others.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    outcomes = run_tasks(
        [task(n) for n in range(4)],
        workers=4,
        should_stop=lambda: False,
        on_done=lambda o: done_order.append(o.index),
    )
    watcher.join()
    assert results(outcomes) == [0, 1, 4, 9]
    assert done_order[-1] == 0 and sorted(done_order) == [0, 1, 2, 3]


# -- stopping ---------------------------------------------------------------------------------------------
def test_a_stop_lets_the_requests_in_flight_finish_and_starts_nothing_new(
    http_site: tuple[FakeMoodle, str],
) -> None:
    site, url = http_site
    stop = threading.Event()
    gate = Gate(hold=2)
    gate.when_all_in = stop.set  # SIGTERM arrives while two requests are being answered
    site.before_answer = gate
    client = http_client(site, url, concurrency=2, cancel_check=stop.is_set)
    recorded: list[int] = []
    outcomes = client.outcomes(
        [lambda n=n: echo(client, n) for n in range(8)], on_done=lambda o: recorded.append(o.index)
    )
    assert not gate.broken
    assert [o.finished for o in outcomes] == [True, True] + [False] * 6
    assert [o.value for o in outcomes[:2]] == ["0", "1"]
    assert site.count("conc_echo") == 2 and client.request_count == 2
    with pytest.raises(Cancelled, match="6 of 8"):
        results(outcomes)
    # The stop stays asked: nothing more is sent, by the pool or by a plain call.
    with pytest.raises(Cancelled):
        echo(client, 99)
    assert site.count("conc_echo") == 2


def test_a_task_of_several_requests_is_stopped_between_them(http_site: tuple[FakeMoodle, str]) -> None:
    site, url = http_site
    gate = Gate(hold=2)
    client = http_client(site, url, concurrency=2)
    gate.when_all_in = client.request_stop
    site.before_answer = gate

    def two_requests(n: int) -> tuple[Any, Any]:
        first = echo(client, n)
        return first, echo(client, n + 100)  # not sent: the stop came while the first was in flight

    outcomes = client.outcomes([lambda n=n: two_requests(n) for n in range(4)])
    assert [type(o.error) for o in outcomes[:2]] == [Cancelled, Cancelled]
    assert not outcomes[2].started and not outcomes[3].started
    assert sorted(params["value"] for _, params in site.calls) == ["0", "1"]
    with pytest.raises(Cancelled, match="stopped before sending"):
        results(outcomes)


def test_ctrl_c_while_waiting_lets_the_tasks_in_flight_finish_and_be_recorded() -> None:
    release = threading.Event()
    started: list[int] = []
    recorded: list[int] = []
    client = MoodleClient("https://moodle.example.org", "t0ken", concurrency=3)
    main = threading.main_thread().ident
    assert main is not None

    def task(n: int) -> Callable[[], int]:
        def run() -> int:
            started.append(n)
            if n == 0:
                signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C in the terminal
            assert release.wait(BARRIER_TIMEOUT)
            return n

        return run

    def record(outcome: Outcome[int]) -> None:
        recorded.append(outcome.index)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            client.concurrent([task(n) for n in range(9)], on_done=record)
    finally:
        signal.signal(signal.SIGINT, previous)
        timer.cancel()
    assert sorted(recorded) == sorted(started) and len(started) <= 3
    assert client.stop_requested  # whatever the tasks would send next is not sent


def test_ctrl_c_in_the_recording_callback_is_handled_the_same_way() -> None:
    client = MoodleClient("https://moodle.example.org", "t0ken", concurrency=2)
    started: list[int] = []
    recorded: list[int] = []

    def record(outcome: Outcome[int]) -> None:
        recorded.append(outcome.index)
        if len(recorded) == 1:
            raise KeyboardInterrupt

    def task(n: int) -> Callable[[], int]:
        def run() -> int:
            started.append(n)
            if n > 0:  # in flight until the interrupt has been taken in
                deadline = time.monotonic() + BARRIER_TIMEOUT
                while not client.stop_requested and time.monotonic() < deadline:
                    time.sleep(0.001)
            return n

        return run

    with pytest.raises(KeyboardInterrupt):
        client.concurrent([task(n) for n in range(6)], on_done=record)
    assert client.stop_requested
    assert 0 in started and 1 in started and not {3, 4, 5} & set(started)
    assert sorted(recorded) == sorted(started)  # the ones in flight were still recorded


# -- errors -----------------------------------------------------------------------------------------------
def test_the_first_error_is_raised_after_the_tasks_in_flight_finish(
    http_site: tuple[FakeMoodle, str],
) -> None:
    site, url = http_site
    failure_known = threading.Event()

    client = http_client(site, url, concurrency=3)
    recorded: dict[int, Any] = {}
    all_started = threading.Barrier(3, timeout=BARRIER_TIMEOUT)

    def record(outcome: Outcome[Any]) -> None:
        recorded[outcome.index] = outcome.error or outcome.value
        if outcome.index == 1:
            failure_known.set()

    def task(n: int) -> Any:
        if n < 3:
            all_started.wait()  # three tasks in flight before any request
        if n != 1:
            # In flight (sent, or about to be) until the failure of task 1 reached the calling thread.
            assert failure_known.wait(BARRIER_TIMEOUT)
        return echo(client, n, fail=int(n == 1))

    with pytest.raises(InvalidParameter):
        client.map(task, range(6), on_done=record)
    assert recorded[0] == "0" and recorded[2] == "2" and isinstance(recorded[1], InvalidParameter)
    assert set(recorded) == {0, 1, 2}
    assert site.count("conc_echo") == 3  # after the failure nothing new started


def test_an_uncertain_write_outranks_another_error(http_site: tuple[FakeMoodle, str]) -> None:
    site, url = http_site
    gate = Gate(hold=2, only="")
    site.before_answer = lambda name: gate("") if name in ("conc_echo", "conc_write") else None
    site.inject("conc_write", "drop-after-apply")
    client = http_client(site, url, concurrency=2)
    tasks = [
        lambda: echo(client, 0, fail=1),
        lambda: client.call("conc_write", {"value": 1}, write=True),
    ]
    with pytest.raises(UncertainWrite):
        client.concurrent(tasks)
    assert not gate.broken
    assert client.write_stats["conc_write"] == 1  # a write in doubt is never sent again


def test_first_error_order() -> None:
    cancelled, bad, uncertain = Cancelled("x"), InvalidParameter("m", errorcode="invalidparameter"), None
    outcomes = [Outcome[int](0, True, True, error=cancelled), Outcome[int](1, True, True, error=bad)]
    assert first_error(outcomes) is bad
    uncertain = UncertainWrite("w")
    outcomes.append(Outcome[int](2, True, True, error=uncertain))
    assert first_error(outcomes) is uncertain
    assert first_error([Outcome[int](0, True, True, error=cancelled)]) is cancelled
    assert first_error([Outcome[int](0, True, True, value=1)]) is None


def test_keep_going_runs_every_task_despite_a_failure(fake_moodle: FakeMoodle) -> None:
    client = make_client(fake_moodle, concurrency=3)
    outcomes = client.outcomes(
        [lambda n=n: echo(client, n, fail=int(n == 0)) for n in range(5)], keep_going=True
    )
    assert [o.ok for o in outcomes] == [False, True, True, True, True]
    assert fake_moodle.count("conc_echo") == 5


def test_a_failing_stop_check_is_raised_not_a_hang() -> None:
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise RuntimeError("cancel hook broke")
        return False

    with pytest.raises(RuntimeError, match="cancel hook broke"):
        run_tasks([lambda n=n: n for n in range(10)], workers=3, should_stop=should_stop)


# -- thread safety ------------------------------------------------------------------------------------------
@handler("conc_warn")
def _warn(site: FakeMoodle, params: dict[str, Any]) -> Any:
    return {"warnings": [{"item": "user", "itemid": params["value"], "warningcode": "w", "message": "m"}]}


def test_counters_and_warnings_are_exact_under_concurrency(fake_moodle: FakeMoodle) -> None:
    client = make_client(fake_moodle, concurrency=8)
    client.map(lambda n: echo(client, n), range(300))
    client.map(lambda n: client.call("conc_warn", {"value": n}), range(100))
    client.map(lambda n: client.call("conc_write", {"value": n}, write=True), range(50))
    assert client.stats == {"conc_echo": 300, "conc_warn": 100, "conc_write": 50}
    assert client.write_stats == {"conc_write": 50} and client.write_count == 50
    assert sorted(int(w.itemid or 0) for w in client.warnings) == list(range(100))
    assert fake_moodle.count("conc_echo") == 300


def test_site_info_is_asked_once_by_many_threads(fake_moodle: FakeMoodle) -> None:
    client = make_client(fake_moodle, concurrency=8)
    assert set(client.map(lambda _n: client.site_userid(), range(16))) == {2}
    assert client.stats["core_webservice_get_site_info"] == 1


# -- batched reads ----------------------------------------------------------------------------------------
@handler("conc_echo_values")
def _echo_values(site: FakeMoodle, params: dict[str, Any]) -> Any:
    if "bad" in params.get("values", []):
        raise invalid_parameter()
    return list(params.get("values", []))


def test_batched_reads_go_at_once_and_keep_their_order(http_site: tuple[FakeMoodle, str]) -> None:
    site, url = http_site
    gate = Gate(hold=4, only="conc_echo_values")
    site.before_answer = gate
    client = http_client(site, url, concurrency=4, max_input_vars=13)  # 10 values per request
    values = [f"v{n}" for n in range(80)]
    answers = client.call_batched("conc_echo_values", "values", values)
    assert answers == [values[i : i + 10] for i in range(0, 80, 10)]
    assert not gate.broken and gate.peak == 4
    assert client.stats["conc_echo_values"] == 8


def test_batched_writes_stay_one_after_another(http_site: tuple[FakeMoodle, str]) -> None:
    site, url = http_site
    gate = Gate(hold=1, only="conc_write")
    site.before_answer = gate
    client = http_client(site, url, concurrency=4, max_input_vars=13)
    client.call_batched("conc_write", "values", list(range(40)), write=True)
    assert gate.peak == 1 and client.peak_in_flight == 1


def test_a_failing_read_chunk_reports_the_chunks_before_it(fake_moodle: FakeMoodle) -> None:
    client = make_client(fake_moodle, concurrency=4, max_input_vars=13)
    values = [f"v{n}" for n in range(60)]
    values[25] = "bad"
    with pytest.raises(MoodleError) as caught:
        client.call_batched("conc_echo_values", "values", values)
    assert caught.value.chunk_index == 2
    assert caught.value.completed == [values[:10], values[10:20]]


# -- settings ---------------------------------------------------------------------------------------------
def test_concurrency_setting() -> None:
    assert parse_concurrency(None) == parse_concurrency("") == DEFAULT_CONCURRENCY == 4
    assert parse_concurrency(" 1 ") == 1 and parse_concurrency(MAX_CONCURRENCY) == MAX_CONCURRENCY
    for bad in ("0", "-1", "four", "2.5", str(MAX_CONCURRENCY + 1)):
        with pytest.raises(ConfigurationError, match=r"MOODLE_CONCURRENCY=.* must be a whole number from 1"):
            parse_concurrency(bad)
    with pytest.raises(ConfigurationError, match="--concurrency"):
        parse_concurrency("0", source="--concurrency")
    with pytest.raises(ConfigurationError):
        MoodleClient("https://moodle.example.org", "t0ken", concurrency=0)
    assert MoodleClient("https://moodle.example.org", "t0ken").concurrency == DEFAULT_CONCURRENCY


# -- a site that has not answered yet -----------------------------------------------------------------------
def test_until_the_site_answers_one_call_goes_at_a_time(fake_moodle: FakeMoodle) -> None:
    """A site that is down costs one request and its retries, not that many per request in flight: the calls
    that waited for the first one fail with its error, unsent. Once the site has answered, calls overlap."""
    fake_moodle.inject("conc_echo", "connection", times=100)
    # Retries that take a moment, as they do (seconds of back-off): the other calls are waiting meanwhile.
    client = make_client(fake_moodle, concurrency=4, sleep=lambda _s: time.sleep(0.05))
    with pytest.raises(MoodleUnreachable, match="did not answer after 5 attempts"):
        client.map(lambda n: echo(client, n), range(4))
    assert client.stats["conc_echo"] == 5  # one request, 4 retries
    outcomes = client.outcomes([lambda n=n: echo(client, n) for n in range(4)], keep_going=True)
    unsent = [
        o.error for o in outcomes if isinstance(o.error, MoodleUnreachable) and "not sent" in str(o.error)
    ]
    assert len(unsent) == 3 and client.stats["conc_echo"] == 10  # again one (and its retries), 3 unsent
    fake_moodle.injected.clear()  # the site is back
    assert client.map(lambda n: echo(client, n), range(8)) == [str(n) for n in range(8)]


def test_once_the_site_has_answered_an_error_too_calls_go_at_once(http_site: tuple[FakeMoodle, str]) -> None:
    site, url = http_site
    client = MoodleClient(url, site.token, sleep=lambda _s: None, concurrency=4)
    with pytest.raises(InvalidParameter):
        echo(client, 0, fail=1)  # an answer all the same: the site is there
    gate = Gate(hold=4)
    site.before_answer = gate
    assert client.map(lambda n: echo(client, n), range(4)) == ["0", "1", "2", "3"]
    assert not gate.broken and gate.peak == 4


# -- batches of even size -----------------------------------------------------------------------------------
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=12), min_size=0, max_size=200),
    limit=st.integers(min_value=16, max_value=120),
)
def test_even_batches_are_as_many_as_full_ones_and_no_larger(sizes: list[int], limit: int) -> None:
    client = MoodleClient("https://moodle.example.org", "t0ken", max_input_vars=limit)
    items = [[0] * size for size in sizes]  # an item of n form variables
    full = client.chunks(items)
    even = client.chunks(items, even=True)
    assert [item for chunk in even for item in chunk] == items  # all of them, in order
    assert len(even) == len(full)
    assert all(count_vars(chunk) <= limit - FIXED_VARS for chunk in even)
    if full:
        assert max(count_vars(c) for c in even) <= max(count_vars(c) for c in full)


@given(
    runs=st.lists(
        st.tuples(st.integers(min_value=1, max_value=6), st.integers(min_value=1, max_value=8)),
        min_size=0,
        max_size=60,
    ),
    limit=st.integers(min_value=40, max_value=150),
    even=st.booleans(),
)
def test_a_key_stays_in_one_batch_unless_it_costs_a_request(
    runs: list[tuple[int, int]], limit: int, even: bool
) -> None:
    """Writes sent at once must not touch the same rows (a group's members, a person's enrolments): with
    keys, a batch ends only where the key changes; but never at the cost of a request more, then a key may
    be cut where a batch ends, and spans neighbouring batches only."""
    client = MoodleClient("https://moodle.example.org", "t0ken", max_input_vars=limit)
    items = [[key] * size for key, (count, size) in enumerate(runs) for _n in range(count)]
    keys = [item[0] for item in items]
    batches = client.chunks(items, keys=keys, even=even)
    assert [item for batch in batches for item in batch] == items
    assert all(count_vars(batch) <= limit - FIXED_VARS for batch in batches)
    assert len(batches) == len(client.chunks(items))  # the same requests as without keys
    for key in range(len(runs)):
        holding = [n for n, batch in enumerate(batches) if any(item[0] == key for item in batch)]
        assert holding == list(range(holding[0], holding[-1] + 1)) if holding else True


def test_whole_groups_when_they_fit_in_as_many_batches() -> None:
    client = MoodleClient("https://moodle.example.org", "t0ken", max_input_vars=5000)
    members = [{"groupid": group, "userid": n} for group in range(150) for n in range(25)]
    batches = client.chunks(members, keys=[m["groupid"] for m in members], even=True)
    assert len(batches) == len(client.chunks(members)) == 2
    groups = [{m["groupid"] for m in batch} for batch in batches]
    assert not groups[0] & groups[1] and len(groups[0] | groups[1]) == 150


def test_even_batches_of_a_cohort_share_the_work() -> None:
    client = MoodleClient("https://moodle.example.org", "t0ken", max_input_vars=5000)
    enrolments = [{"roleid": 5, "userid": n, "courseid": 3} for n in range(3635)]
    assert [len(c) for c in client.chunks(enrolments)] == [1665, 1665, 305]
    assert [len(c) for c in client.chunks(enrolments, even=True)] == [1212, 1212, 1211]


# -- the command line's setting ------------------------------------------------------------------------------
def test_concurrency_comes_from_the_option_else_the_environment(
    fake_moodle: FakeMoodle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOODLE_URL", fake_moodle.url)
    monkeypatch.setenv("MOODLE_TOKEN", fake_moodle.token)
    for name in ("MOODLE_TOKEN_FILE", "MOODLE_CONCURRENCY", "MOODLE_MAX_INPUT_VARS"):
        monkeypatch.delenv(name, raising=False)

    def client_of(*args: str) -> tuple[Result, AppContext]:
        app = AppContext(config_path=None)
        return CliRunner().invoke(main, [*args], obj=app, catch_exceptions=False), app

    def concurrency(*args: str) -> int:
        result, app = client_of(*args)
        assert result.exit_code == 0, result.output
        return app.client().concurrency

    assert concurrency("doctor") == DEFAULT_CONCURRENCY == 4
    monkeypatch.setenv("MOODLE_CONCURRENCY", "2")
    assert concurrency("doctor") == 2
    assert concurrency("--concurrency", "1", "doctor") == 1  # the option before the environment
    assert concurrency("doctor", "--concurrency", "3") == 3  # a global option after the command too
    result, app = client_of("doctor")
    # Whatever MOODLE_MAX_INPUT_VARS says, the site's limit is measured before a larger request.
    assert app.client().measure_limit is measured_limit
    monkeypatch.setenv("MOODLE_CONCURRENCY", "0")
    result, _app = client_of("doctor")
    assert (
        result.exit_code == 2
        and "MOODLE_CONCURRENCY='0' must be a whole number from 1 to 32" in result.output
    )
    monkeypatch.delenv("MOODLE_CONCURRENCY")
    result, _app = client_of("--concurrency", "33", "doctor")
    assert result.exit_code == 2 and "--concurrency" in result.output


def test_requests_sent_at_once_start_a_moment_apart(http_site: tuple[FakeMoodle, str]) -> None:
    """PHP's built-in server may give two connections that arrive together to one worker: requests that go
    while others are in flight start a few hundredths of a second apart; one sent alone never waits."""
    site, url = http_site
    waits: list[float] = []
    # A long spacing (the waits are only recorded): every start while others are in flight must wait.
    client = MoodleClient(url, site.token, sleep=waits.append, concurrency=4, start_spacing=5.0)
    for n in range(3):
        echo(client, n)
    assert waits == []
    gate = Gate(hold=4)
    site.before_answer = gate
    assert client.map(lambda n: echo(client, n), range(4)) == ["0", "1", "2", "3"]
    assert not gate.broken
    assert len(waits) == 3 and all(0 < wait <= 5.0 for wait in waits)
    assert MoodleClient(url, site.token).start_spacing == DEFAULT_START_SPACING == 0.03
