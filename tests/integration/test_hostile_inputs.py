"""Hostile text in every user-facing launch field: refused naming the field, or passed safely.

"Safely" is shown, not assumed: the sbatch argv built from an accepted request is run with
`printf '%s\\0'` in place of sbatch, locally and over SSH, and must come back byte-exact, one
item per argument. Every hostile value tries to create a canary file; none may appear, so no
command ran that the user did not ask for.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcv_widget.desktops.request import InvalidRequest, LaunchRequest
from dcv_widget.desktops.slurm import sbatch_argv
from dcv_widget.transport.base import Transport
from dcv_widget.transport.local import LocalTransport

if TYPE_CHECKING:
    from tests.integration.sshd import SSHServer
else:
    from sshd import SSHServer

CANARY = Path(tempfile.gettempdir()) / f"dcv-widget-canary-{os.getpid()}"
# Ways a value could break out of its argument, each trying to create the canary.
PAYLOADS = [
    "$(touch {canary})",
    "`touch {canary}`",
    "; touch {canary}",
    "&& touch {canary}",
    "| touch {canary}",
    "\ntouch {canary}\n",
    "' ; touch {canary} ; '",
    '" ; touch {canary} ; "',
    "-oProxyCommand=touch {canary}",
    "--wrap=touch {canary}",
    "${{IFS}}touch${{IFS}}{canary}",
    "\\'$(touch {canary})",
]
TEXT_FIELDS = [
    "partition",
    "account",
    "time",
    "memory",
    "geometry",
    "engine",
    "qos",
    "reservation",
    "constraint",
    "gpu_type",
]
# Counts, and the one switch (exclusive: booleans pass, anything else is refused).
COUNT_FIELDS = ["cpus", "gpus", "idle_timeout", "exclusive"]


def with_payloads(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`text`, or a payload inside text, aimed at the canary."""
    payload = st.sampled_from(PAYLOADS).map(lambda p: p.format(canary=CANARY))
    return st.one_of(text, st.builds(lambda a, p, b: a + p + b, text, payload, text))


# Any text at all (NUL and lone surrogates included), for the validated fields...
HOSTILE = with_payloads(st.text(st.characters(exclude_characters=""), max_size=40))
# ...and text that can be an argument at all (UTF-8 encodable, no NUL), for the transports.
ARGUMENT = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=40)
EXAMPLES = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def transports(sshd: SSHServer) -> Iterator[list[Transport]]:
    with sshd.transport() as ssh:
        yield [LocalTransport(), ssh]


def canaries() -> list[Path]:
    """Files a hostile value created (text drawn after a payload may extend the name)."""
    return list(CANARY.parent.glob(f"{CANARY.name}*"))


@pytest.fixture(autouse=True)
def no_canary() -> Iterator[None]:
    for path in canaries():
        path.unlink()
    yield
    assert not canaries(), "a hostile value ran a command"


def request_or_refusal(field: str, value: Any) -> LaunchRequest | None:
    """The request, or None when it was refused with an error naming `field` (a GPU type is
    asked with a GPU: without one it is always refused)."""
    try:
        return LaunchRequest(**{field: value, **({"gpus": 1} if field == "gpu_type" else {})})
    except InvalidRequest as exc:
        assert exc.field == field
        assert str(exc).startswith(f"{field}: ")
        return None


def assert_passed_exactly(argv: list[str], transports: list[Transport]) -> None:
    """`argv` reaches a program as exactly these arguments, through every transport."""
    for transport in transports:
        result = transport.run(["printf", "%s\\0", *argv], env={"SLURM_UMASK": "0077"}, timeout=30)
        assert result.ok, (transport, result.stderr)
        assert result.stdout.split("\0")[:-1] == argv, transport
    assert not canaries(), "a hostile value ran a command"


def check(field: str, value: Any, transports: list[Transport]) -> None:
    request = request_or_refusal(field, value)
    if request is not None:
        argv = sbatch_argv(request, output="/home/u/.dcv-widget/logs/%j.log", comment="c")
        assert_passed_exactly(argv, transports)


@pytest.mark.parametrize("field", TEXT_FIELDS)
@EXAMPLES
@given(value=HOSTILE)
def test_any_text_in_a_field_is_refused_or_passed_safely(
    field: str, value: str, transports: list[Transport]
) -> None:
    check(field, value, transports)


@pytest.mark.parametrize("field", COUNT_FIELDS)
@EXAMPLES
@given(value=st.one_of(st.integers(), st.booleans()))
def test_any_count_is_refused_or_passed_safely(
    field: str, value: int, transports: list[Transport]
) -> None:
    check(field, value, transports)


@EXAMPLES
@given(argv=st.lists(with_payloads(ARGUMENT), min_size=1, max_size=6))
def test_even_unvalidated_arguments_cannot_run_anything(
    argv: list[str], transports: list[Transport]
) -> None:
    """Defence in depth: the transports alone keep arbitrary text inside its argument."""
    assert_passed_exactly(argv, transports)


@pytest.mark.parametrize(
    "field",
    [
        "partition",
        "account",
        "time",
        "memory",
        "geometry",
        "qos",
        "reservation",
        "constraint",
        "gpu_type",
    ],
)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_each_known_attack_is_refused_naming_the_field(field: str, payload: str) -> None:
    assert request_or_refusal(field, payload.format(canary=CANARY)) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("partition", "dcv\n--wrap=id"),
        ("partition", "-oProxyCommand=id"),
        ("account", "--account=root"),
        ("time", "1:00:00 --wrap=id"),
        ("time", "1:00:00\n"),
        ("memory", "8G;id"),
        ("geometry", "1600x900$(id)"),
        ("engine", "novnc --wrap=id"),
        ("qos", "--qos=normal"),
        ("reservation", "dcv-class\n--wrap=id"),
        ("constraint", "avx2 --wrap=id"),
        ("constraint", "avx2&-x"),
        ("gpu_type", "t4:2,gpu"),
    ],
)
def test_option_looking_and_multi_line_values_are_refused(field: str, value: str) -> None:
    assert request_or_refusal(field, value) is None


def test_accepted_values_reach_sbatch_as_single_items(transports: list[Transport]) -> None:
    request = LaunchRequest(
        partition="dcv", account="proj-1.a", time="1-12:00:00", memory="8G", cpus=4, gpus=1
    )
    argv = sbatch_argv(request, output="/home/u/my logs/%j.log", comment="dcv-widget:novnc")
    assert "--partition=dcv" in argv and "--output=/home/u/my logs/%j.log" in argv
    assert_passed_exactly(argv, transports)
