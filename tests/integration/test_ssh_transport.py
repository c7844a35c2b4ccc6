"""SSHTransport against a real sshd on 127.0.0.1 (see sshd.py), logging in as this test user."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dcv_widget.desktops.request import LaunchRequest
from dcv_widget.desktops.slurm import SlurmBackend, SlurmError, SlurmUnavailable
from dcv_widget.transport.base import CommandNotFound, TransportError
from dcv_widget.transport.local import LocalTransport
from dcv_widget.transport.ssh import SSHTransport

if TYPE_CHECKING:
    from tests.integration.sshd import ALIAS, JUMP_ALIAS, SSHServer, running_sshd
else:
    from sshd import ALIAS, JUMP_ALIAS, SSHServer, running_sshd

TRICKY = [
    "plain",
    "two words",
    "",
    "'single' and \"double\" quotes",
    "$(touch /tmp/dcv-widget-pwned)",
    "`id`",
    "$HOME ${PATH} $$ $?",
    "line one\nline two\n",
    "\r\t\x1f\x7f",
    "-oProxyCommand=touch /tmp/dcv-widget-pwned",
    "--wrap=id",
    "-",
    "--",
    "; rm -rf ~ & | > < >> 2>&1 && ||",
    "back\\slash\\",
    "*?[a-z]{1,2}~",
    "!! !$ #not a comment",
    "ünïcødé ✓ 日本語 😀",
]


def printed(stdout: str) -> list[str]:
    """The items `printf '%s\\0'` printed, one per argument."""
    assert stdout.endswith("\0") or stdout == ""
    return stdout.split("\0")[:-1]


@pytest.fixture(scope="module")
def ssh(sshd: SSHServer) -> SSHTransport:
    return sshd.transport()


def new_session_pid(sshd: SSHServer, before: list[int]) -> int:
    """The sshd process that serves the connection made since `before` was taken."""
    (pid,) = set(sshd.session_pids()) - set(before)
    return pid


def test_tricky_arguments_arrive_byte_exact(ssh: SSHTransport) -> None:
    result = ssh.run(["printf", "%s\\0", *TRICKY])
    assert result.ok, result.stderr
    assert printed(result.stdout) == TRICKY
    assert not Path("/tmp/dcv-widget-pwned").exists()


def test_stdin_is_delivered_while_output_streams_back(ssh: SSHTransport) -> None:
    # Larger than paramiko's channel window both ways: the exchange must interleave.
    text = "".join(f"line {n} with some text to make it longer ✓\n" for n in range(100_000))
    result = ssh.run(["cat"], stdin=text)
    assert result.ok
    assert result.stdout == text


def test_env_is_set_for_the_command_only(ssh: SSHTransport) -> None:
    value = "a b $(id) 'q' \n end"
    result = ssh.run(["sh", "-c", 'printf %s "$DCV_TEST_VALUE"'], env={"DCV_TEST_VALUE": value})
    assert result.stdout == value
    assert ssh.run(["sh", "-c", 'printf %s "${DCV_TEST_VALUE-unset}"']).stdout == "unset"


def test_exit_codes_and_stderr_come_back(ssh: SSHTransport) -> None:
    result = ssh.run(["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")
    # The remote shell's "not found" (127) is CommandNotFound, as a local run's would be.
    with pytest.raises(CommandNotFound, match="'dcv-widget-no-such-program' is not on the PATH"):
        ssh.run(["dcv-widget-no-such-program"])


def test_a_head_node_without_slurm_is_named_not_slurm_refusing(tmp_path: Path) -> None:
    """ssh_host names a machine without Slurm's commands (an sshd whose logins' PATH has none
    of them): a launch says that head node has no Slurm client, at once, instead of "Slurm
    refused the desktop job: … command not found"."""
    (tmp_path / "sshd").mkdir(mode=0o700)
    with (
        running_sshd(tmp_path / "sshd", env={"PATH": "/nonexistent"}) as bare,
        bare.transport() as ssh,
        pytest.raises(SlurmError) as refused,
    ):
        SlurmBackend(ssh).submit(LaunchRequest(), "#!/bin/sh\n", output="o", comment="c")
    assert not isinstance(refused.value, SlurmUnavailable)  # not retried
    message = str(refused.value)
    assert message.startswith(
        "the head node 127.0.0.1 (c.DesktopSettings.ssh_host) has no Slurm client ('sbatch' "
        "is not on the PATH of SSH logins to 127.0.0.1)"
    ), message
    assert "Slurm refused" not in message


def test_a_command_killed_by_a_signal_has_no_known_outcome(ssh: SSHTransport) -> None:
    with pytest.raises(TransportError, match=r"without an exit status.*not re-run"):
        ssh.run(["sh", "-c", "kill -9 $$"])
    assert ssh.run(["true"]).ok


def test_a_slow_command_times_out_without_spoiling_the_connection(
    sshd: SSHServer, ssh: SSHTransport, tmp_path: Path
) -> None:
    ssh.run(["true"])
    logins = sshd.connections()
    pid_file = tmp_path / "pid"
    with pytest.raises(TransportError, match=r"did not answer within 0\.5 s") as raised:
        ssh.run(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 10"], stdin="SECRET", timeout=0.5)
    assert "SECRET" not in str(raised.value)
    assert ssh.run(["echo", "still here"]).stdout == "still here\n"
    assert sshd.connections() == logins
    os.kill(int(pid_file.read_text()), 9)  # a timed-out command is left running, as with ssh


def test_files_over_sftp(ssh: SSHTransport, tmp_path: Path) -> None:
    assert ssh.home() == pwd.getpwuid(os.getuid()).pw_dir

    folder = tmp_path / "private"
    folder.mkdir(mode=0o755)
    ssh.make_private_dir(str(folder))  # an existing folder is narrowed to 0700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    new = folder / "sessions"
    ssh.make_private_dir(str(new))
    ssh.make_private_dir(str(new))  # idempotent
    assert stat.S_IMODE(new.stat().st_mode) == 0o700
    with pytest.raises(FileNotFoundError):
        ssh.make_private_dir(str(tmp_path / "no-parent" / "child"))
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(FileExistsError, match="not a folder"):
        ssh.make_private_dir(str(tmp_path / "a-file"))

    session_file = new / "123.json"
    session_file.write_text('{"token": "ünïcødé"}\n')
    assert ssh.read_text(str(session_file)) == '{"token": "ünïcødé"}\n'
    assert ssh.read_text(str(new / "missing.json")) is None
    ssh.remove(str(session_file))
    assert not session_file.exists()
    ssh.remove(str(session_file))  # a missing file is not an error


def test_a_folder_is_listed_over_the_kept_sftp_session(ssh: SSHTransport, tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    for name in ("17.started.json", "17.json", ".18.json.tmp"):
        (folder / name).write_text("{}")
    os.utime(folder / "17.json", (1_700_000_000, 1_700_000_000))
    files = ssh.list_files(str(folder))
    assert sorted(files) == [".18.json.tmp", "17.json", "17.started.json"]
    assert files["17.json"] == 1_700_000_000
    local = LocalTransport().list_files(str(folder))  # SFTP has whole seconds
    assert {name: int(mtime) for name, mtime in local.items()} == files
    assert ssh.list_files(str(tmp_path / "missing")) == {}


def test_one_connection_serves_commands_and_files(sshd: SSHServer, tmp_path: Path) -> None:
    logins = sshd.connections()
    with sshd.transport() as ssh:
        for _ in range(5):
            assert ssh.run(["squeue", "--me", "--noheader"]).ok
        ssh.home()
        ssh.read_text(str(tmp_path / "nothing"))
        threads = [threading.Thread(target=ssh.run, args=(["sleep", "0.2"],)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sshd.connections() == logins + 1


def test_reconnects_after_the_connection_dropped(sshd: SSHServer) -> None:
    before = sshd.session_pids()
    with sshd.transport() as ssh:
        assert ssh.run(["true"]).ok
        os.kill(new_session_pid(sshd, before), 9)
        time.sleep(0.2)
        logins = sshd.connections()
        assert ssh.run(["echo", "back"]).stdout == "back\n"
        assert sshd.connections() == logins + 1


def test_the_kept_sftp_session_reconnects_too(sshd: SSHServer, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("still readable")
    before = sshd.session_pids()
    with sshd.transport() as ssh:
        assert ssh.read_text(str(tmp_path / "f")) == "still readable"
        os.kill(new_session_pid(sshd, before), 9)  # no pause: the request may meet the drop
        assert ssh.read_text(str(tmp_path / "f")) == "still readable"


def test_a_command_cut_off_mid_flight_is_reported_not_rerun(
    sshd: SSHServer, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    script = f"echo $$ >> {marker}; exec sleep 20"
    before = sshd.session_pids()
    with sshd.transport() as ssh:
        ssh.run(["true"])
        pid = new_session_pid(sshd, before)
        failure: list[BaseException] = []

        def run_long() -> None:
            try:
                ssh.run(["sh", "-c", script], timeout=60)
            except TransportError as exc:
                failure.append(exc)

        runner = threading.Thread(target=run_long)
        runner.start()
        while not marker.exists():
            time.sleep(0.02)
        os.kill(pid, 9)
        runner.join(timeout=30)
        assert not runner.is_alive()
        assert failure, "a command whose connection died must raise"
        assert "dropped" in str(failure[0]) and "not re-run" in str(failure[0])
        assert ssh.run(["echo", "next"]).stdout == "next\n"
    (command_pid,) = marker.read_text().split()  # it ran once
    os.kill(int(command_pid), 9)


def host_fingerprint(sshd: SSHServer) -> str:
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(sshd.folder / "host_key.pub")],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()[1]


def test_an_unknown_host_key_is_refused_with_what_to_do(sshd: SSHServer, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    ssh = sshd.transport(known_hosts=str(known_hosts))
    with pytest.raises(TransportError) as raised:
        ssh.run(["true"])
    message = str(raised.value)
    assert f"[127.0.0.1]:{sshd.port} is not a known SSH host" in message
    assert host_fingerprint(sshd) in message
    assert "trust_unknown_host=True" in message and "ssh -p" in message
    assert known_hosts.read_text() == ""


def test_trust_unknown_host_records_the_key(sshd: SSHServer, tmp_path: Path) -> None:
    known_hosts = tmp_path / "ssh" / "known_hosts"
    with sshd.transport(known_hosts=str(known_hosts), trust_unknown_host=True) as ssh:
        assert ssh.run(["true"]).ok
    recorded = known_hosts.read_text()
    assert recorded.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    with sshd.transport(known_hosts=str(known_hosts)) as again:  # now known, no opt-in needed
        assert again.run(["true"]).ok


def test_a_changed_host_key_is_refused(sshd: SSHServer, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = other.with_suffix(".pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    with pytest.raises(TransportError, match="CHANGED"):
        sshd.transport(known_hosts=str(known_hosts), trust_unknown_host=True).run(["true"])


def test_a_key_the_server_does_not_accept(sshd: SSHServer, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with pytest.raises(TransportError, match=r"could not log in as .*authorized_keys"):
        sshd.transport(key_filename=str(stranger)).run(["true"])


def test_a_closed_port_is_refused_clearly(sshd: SSHServer) -> None:
    with pytest.raises(TransportError, match="refused the SSH connection on port 9"):
        sshd.transport(port=9).run(["true"])


def test_ssh_config_is_honoured(sshd: SSHServer) -> None:
    with SSHTransport(ALIAS, ssh_config=str(sshd.ssh_config)) as ssh:
        assert ssh.target.port == sshd.port
        assert ssh.run(["id", "-un"]).stdout.strip() == sshd.user


def test_proxy_jump_goes_through_the_jump_host(sshd: SSHServer) -> None:
    logins = sshd.connections()
    with SSHTransport(JUMP_ALIAS, ssh_config=str(sshd.ssh_config)) as ssh:
        assert ssh.run(["printf", "%s\\0", *TRICKY]).stdout == "\0".join(TRICKY) + "\0"
    assert sshd.connections() == logins + 2  # the jump, then the target through it


def test_slurm_over_ssh_sees_what_the_head_node_sees(ssh: SSHTransport) -> None:
    over_ssh = SlurmBackend(ssh)
    local = SlurmBackend(LocalTransport())
    assert "dcv" in {p.name for p in over_ssh.partitions()}
    assert {p.name for p in over_ssh.partitions()} == {p.name for p in local.partitions()}
    assert over_ssh.jobs().keys() == local.jobs().keys()
