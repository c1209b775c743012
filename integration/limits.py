"""The site's real ``max_input_vars``, found through the web services.

PHP drops the form variables past its ``max_input_vars`` and Moodle still answers 200 (field note 6), so a
client told a larger limit than the site's loses data without a word. The limit is not in any web-service
answer; it is measured with a read whose answer tells whether the whole request arrived:
``core_user_get_users_by_field`` (field ``id``, already in the token's service for the roster sync) with
padding values ``0`` (no user has id 0) and, last, the token's own user id. PHP parses the body in order,
so the answer names the token's user exactly when the last variable was kept.

Measured on the seed site (``max_input_vars`` 5000): a request of 5001 variables arrives whole, one of 5002
loses its last. PHP (``main/php_variables.c``, ``add_post_vars``) counts a POST variable after keeping it,
so a POST body keeps one more variable than the setting; the setting is the largest request that arrives,
less one, which is also what the client is given (it keeps every request at or under it).

Most sites use a round number (PHP's default 1000; Moodle's installer asks for 5000), so the search tries
the configured value first, then round values, and bisects only between them: 2 requests when the
configured value is right, about 4 to 6 otherwise, a few more for an unusual value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from i18n import _
from integration.errors import BadResponse, ConfigurationError
from integration.transport import FIXED_VARS, MoodleClient

log = logging.getLogger("accel.moodle")

FUNCTION = "core_user_get_users_by_field"
#: the smallest request that can tell: wstoken, wsfunction, moodlewsrestformat, field and one value
SMALLEST = FIXED_VARS + 2
#: settings seen on real hosts, tried before bisecting (PHP's default, Moodle's required minimum, ...)
ROUND_SETTINGS = (1000, 2000, 3000, 4000, 5000, 10000, 20000, 50000)
#: the largest setting measured: a request of 50,000 values is about 900 KB, well under PHP's post_max_size
#: (8M by default) and PostgreSQL's 65,535 bound parameters; no request of the product needs more
CEILING = 50_000
#: what PHP prints (when the site shows its warnings) in front of the answer of a request it cut short
_PHP_CUT_WARNING = "Input variables exceeded"


class LimitNotMeasurable(ConfigurationError):
    """Even the smallest probe did not come back with the token's own user: the limit cannot be measured."""


@dataclass(frozen=True)
class InputVarsLimit:
    """What the measurement found."""

    #: the site's setting: the largest request that arrived whole, less one (PHP keeps one more, see above)
    max_input_vars: int
    #: False when every probe arrived, up to the ceiling: the site keeps at least ``max_input_vars``
    exact: bool
    #: requests the measurement sent
    requests: int

    def describe(self) -> str:
        if self.exact:
            return f"the site's max_input_vars is {self.max_input_vars}"
        return f"the site's max_input_vars is at least {self.max_input_vars}"


def arrives(client: MoodleClient, size: int, userid: int) -> bool:
    """Whether a request of ``size`` form variables (all counted) reaches Moodle whole. One request."""
    if size < SMALLEST:
        raise ValueError(f"a probe needs at least {SMALLEST} variables, got {size}")
    values = ["0"] * (size - SMALLEST) + [str(userid)]
    try:
        answer = client.call_beyond_limit(FUNCTION, {"field": "id", "values": values})
    except BadResponse as exc:
        if _PHP_CUT_WARNING in exc.excerpt:
            return False  # a site that displays PHP's warnings says so in front of the JSON
        raise
    return isinstance(answer, list) and any(
        isinstance(user, dict) and str(user.get("id")) == str(userid) for user in answer
    )


def measure_max_input_vars(
    client: MoodleClient, *, expected: int | None = None, ceiling: int = CEILING
) -> InputVarsLimit:
    """Find the site's ``max_input_vars`` with a few reads. ``expected`` (the configured value) is tried first.

    Calls: core_webservice_get_site_info (once per client), core_user_get_users_by_field (the probes).
    """
    userid = client.site_userid()
    asked = 0
    # ``low`` is a setting known to hold (or the virtual SMALLEST - 2 before any probe), ``high`` one known
    # not to (or the virtual ceiling + 1): the answer is ``low`` once they are neighbours.
    low, high = SMALLEST - 2, ceiling + 1

    def holds(setting: int) -> bool:
        """Does the site keep ``setting`` variables and the one more PHP allows a POST body?"""
        nonlocal asked, low, high
        asked += 1
        if arrives(client, setting + 1, userid):
            low = max(low, setting)
            return True
        high = min(high, setting)
        return False

    if expected is not None and low < expected < high and holds(expected) and expected + 1 < high:
        holds(expected + 1)  # the configured value is usually right: two requests confirm it exactly
    candidates = sorted({s for s in (*ROUND_SETTINGS, ceiling) if s <= ceiling})
    while True:  # the round settings, bisected
        inside = [s for s in candidates if low < s < high]
        if not inside:
            break
        holds(inside[len(inside) // 2])
    if low in candidates and low + 1 < high:
        holds(low + 1)  # a round setting that holds is most likely the setting itself
    while high - low > 1:
        holds((low + high) // 2)
    if low < SMALLEST - 1:
        raise LimitNotMeasurable(
            _(
                "cannot measure max_input_vars: {function} did not return the token's own user (id {userid}) "
                "even for the smallest request"
            ).format(function=FUNCTION, userid=userid)
        )
    found = InputVarsLimit(max_input_vars=low, exact=low < ceiling, requests=asked)
    log.info("%s (%d requests)", found.describe(), asked)
    return found


def measured_limit(client: MoodleClient) -> int:
    """The limit to keep ``client``'s requests under: the site's, its configured value tried first.

    Give it to the client (``MoodleClient(..., measure_limit=measured_limit)``) to have it measured before the
    first request larger than PHP's default. Calls: as :func:`measure_max_input_vars`.
    """
    return measure_max_input_vars(client, expected=client.configured_max_input_vars).max_input_vars


def advice(found: InputVarsLimit, configured: int, *, setting: str = "MOODLE_MAX_INPUT_VARS") -> str | None:
    """What to tell the administrator when ``configured`` differs from the site's limit, else None."""
    if configured > found.max_input_vars:
        return _(
            "{setting} is {configured}, but the site keeps only {limit} form variables per request (PHP "
            "max_input_vars): the rest of a larger request would be dropped silently. accel keeps its "
            "requests to {limit}; set {setting}={limit}."
        ).format(setting=setting, configured=configured, limit=found.max_input_vars)
    if found.exact and configured < found.max_input_vars:
        return _(
            "{setting} is {configured}; the site accepts {limit} form variables per request (PHP "
            "max_input_vars): set {setting}={limit} for fewer, larger requests."
        ).format(setting=setting, configured=configured, limit=found.max_input_vars)
    return None
