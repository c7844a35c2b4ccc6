"""`remote_command`, the one function that turns an argv list into a remote command line."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dcv_widget.transport.quoting import remote_command
from dcv_widget.transport.ssh import SSHTransport

# Text that can be an argument: UTF-8 encodable, no NUL (no command line can carry one).
ARGUMENT = st.text(st.characters(codec="utf-8", exclude_characters="\0"))


def test_every_item_is_quoted_on_its_own() -> None:
    assert remote_command(["squeue", "--me"]) == "squeue --me"
    assert remote_command(["echo", "a b", "$(id)", "it's"]) == ("echo 'a b' '$(id)' 'it'\"'\"'s'")
    assert remote_command(["printf", ""]) == "printf ''"


@given(st.lists(ARGUMENT, min_size=1))
def test_a_posix_shell_splits_it_back_into_the_same_items(argv: list[str]) -> None:
    assert shlex.split(remote_command(argv)) == argv


@pytest.mark.parametrize("argv", [["echo", "a\0b"], ["\0"]])
def test_nul_bytes_are_refused_clearly(argv: list[str]) -> None:
    with pytest.raises(ValueError, match="NUL byte"):
        remote_command(argv)


def test_text_that_is_no_utf8_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        remote_command(["echo", "\ud800"])


def test_an_empty_argv_is_refused() -> None:
    with pytest.raises(ValueError, match="no program"):
        remote_command([])


@pytest.mark.parametrize("name", ["lower", "1ST", "A-B", "A B", "X;Y", ""])
def test_env_names_are_validated_before_connecting(name: str) -> None:
    # Port 9 on loopback answers nothing: reaching it would fail differently.
    transport = SSHTransport("127.0.0.1", port=9, ssh_config=None)
    with pytest.raises(ValueError, match="environment variable name"):
        transport.run(["true"], env={name: "1"})


def test_a_program_name_with_equals_sign_cannot_hide_behind_env() -> None:
    transport = SSHTransport("127.0.0.1", port=9, ssh_config=None)
    with pytest.raises(ValueError, match="contains '='"):
        transport.run(["A=B"], env={"X": "1"})


def test_importing_dcv_widget_does_not_import_paramiko() -> None:
    probe = "import sys, dcv_widget.transport.ssh; print('paramiko' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
