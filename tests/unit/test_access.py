"""Access routes' card text: exact commands, and SSM's JSON intact in every shell shown."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dcv_widget.access import instructions as access
from dcv_widget.access.instructions import Access, ssm_argv, ssm_commands


def windows_argv(line: str) -> list[str]:
    """Split a command line as the Microsoft C runtime does for aws.exe (CommandLineToArgvW's
    rules): whitespace separates, "…" groups, \\" is a literal quote, 2n backslashes before a
    quote are n backslashes and the quote toggles."""
    args: list[str] = []
    current, quoted, pending, i = "", False, False, 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            if i + n < len(line) and line[i + n] == '"':
                current += "\\" * (n // 2)
                if n % 2:
                    current += '"'
                    i += n + 1
                    continue
                i += n
                continue
            current += "\\" * n
            i += n
            pending = True
            continue
        if c == '"':
            quoted, pending = not quoted, True
        elif c in " \t" and not quoted:
            if current or pending:
                args.append(current)
            current, pending = "", False
        else:
            current, pending = current + c, True
        i += 1
    if current or pending:
        args.append(current)
    return args


def powershell_argv(line: str) -> list[str]:
    """Split as PowerShell does for a native command: bare words, and '…' literals in which
    only '' (one quote) is special. A bare word with a character PowerShell would interpret
    fails the test. 7.3+ passes each argument to aws.exe unchanged."""
    args = []
    for token in re.finditer(r"'((?:[^']|'')*)'|(\S+)", line):
        quoted, bare = token.groups()
        if bare is not None:
            assert not set(bare) & set("'\"$`@(){};,|&<>#"), bare
            args.append(bare)
        else:
            args.append(quoted.replace("''", "'"))
    return args


def shown_parameters(command: access.Command) -> dict[str, list[str]]:
    """The --parameters value that the shown command hands to aws, parsed as the shell does."""
    if command.shell == "bash / zsh":
        argv = shlex.split(command.text)
    elif command.shell == "PowerShell 7.3+":
        argv = powershell_argv(command.text)
    else:
        assert not set("&|<>^%") & set(command.text)
        argv = windows_argv(command.text)
    parsed: dict[str, list[str]] = json.loads(argv[argv.index("--parameters") + 1])
    return parsed


def test_ssm_command_as_the_issue_shows_it() -> None:
    shown = access.ssm_forward("i-0123456789abcdef0", "eu-west-1", 8443, 18442)
    bash = shown.commands[0]
    assert bash.text == (
        "aws ssm start-session --target i-0123456789abcdef0 --document-name "
        "AWS-StartPortForwardingSession --region eu-west-1 --parameters "
        """'{"portNumber":["8443"],"localPortNumber":["18442"]}'"""
    )
    assert [c.shell for c in shown.commands] == ["bash / zsh", "PowerShell 7.3+", "cmd"]
    assert shown.commands[2].text.endswith(
        r'--parameters "{\"portNumber\":[\"8443\"],\"localPortNumber\":[\"18442\"]}"'
    )
    assert shown.then == "Then click Connect: it opens 127.0.0.1:18442."
    assert shown.route == "ssm" and shown.usable


def test_ssm_through_the_head_node_forwards_to_the_node_ip() -> None:
    shown = access.ssm_forward(
        "i-0aaaabbbbccccdddd", "us-east-2", 8443, 18007, remote_host="10.0.3.9"
    )
    assert shown.route == "ssm-head"
    for command in shown.commands:
        assert "AWS-StartPortForwardingSessionToRemoteHost" in command.text
        assert shown_parameters(command) == {
            "host": ["10.0.3.9"],
            "portNumber": ["8443"],
            "localPortNumber": ["18007"],
        }


instance_ids = st.from_regex(r"i-[0-9a-f]{8}([0-9a-f]{9})?", fullmatch=True)
regions = st.sampled_from(["us-east-1", "eu-central-2", "ap-southeast-4", "us-gov-west-1"])
ports = st.integers(1, 65535)
hosts = st.one_of(st.just(""), st.ip_addresses(v=4).map(str))


@given(instance_ids, regions, ports, ports, hosts)
def test_parameters_are_the_same_json_in_every_shell_shown(
    instance_id: str, region: str, port: int, local: int, host: str
) -> None:
    argv = ssm_argv(instance_id, region, port, local, host)
    expected = json.loads(argv[-1])
    for command in ssm_commands(argv):
        assert shown_parameters(command) == expected, command


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_a_real_posix_shell_hands_aws_the_json(shell: str) -> None:
    """The bash / zsh line, run by a real shell with `aws` a function printing its argv."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    argv = ssm_argv("i-0123456789abcdef0", "us-east-2", 8443, 18443, "10.0.1.5")
    line = ssm_commands(argv)[0].text
    script = f'aws() {{ for a in "$@"; do printf "%s\\0" "$a"; done; }}\n{line}'
    out = subprocess.run([shell, "-c", script], capture_output=True, text=True, check=True)
    assert ["aws", *out.stdout.split("\0")[:-1]] == argv


@pytest.mark.parametrize(
    ("instance_id", "region", "host"),
    [
        ("i-0123456789abcdef0; rm -rf ~", "us-east-1", ""),
        ("i-0123456789abcdef0", "us-east-1 --profile x", ""),
        ("i-0123456789abcdef0", "us-east-1", "10.0.0.1 && curl x"),
        ("$(id)", "us-east-1", ""),
    ],
)
def test_values_that_would_reach_a_shell_are_refused(
    instance_id: str, region: str, host: str
) -> None:
    with pytest.raises(ValueError, match="not"):
        ssm_argv(instance_id, region, 8443, 18443, host)


def test_ssh_tunnel_binds_and_names_127_0_0_1_never_localhost() -> None:
    """ssh binds 127.0.0.1 explicitly (and exits if it cannot), Connect names 127.0.0.1: no
    [::1] listener of another user can take the request."""
    shown = access.ssh_tunnel("10.0.1.17", 8443, 18017, "ada@head.example.org")
    assert [c.text for c in shown.commands] == [
        "ssh -N -L 127.0.0.1:18017:10.0.1.17:8443 -o ExitOnForwardFailure=yes ada@head.example.org"
    ]
    assert shown.then.endswith("127.0.0.1:18017.")
    other_port = access.ssh_tunnel("10.0.1.17", 8443, 18017, "ada@head.example.org", 2222)
    assert other_port.commands[0].text == (
        "ssh -N -L 127.0.0.1:18017:10.0.1.17:8443 -o ExitOnForwardFailure=yes -p 2222 "
        "ada@head.example.org"
    )
    ipv6 = access.ssh_tunnel("fd00::17", 8443, 18017, "ada@head")
    assert shlex.split(ipv6.commands[0].text)[3] == "127.0.0.1:18017:[fd00::17]:8443"
    for route in (shown, other_port, ipv6, access.held_tunnel("10.0.1.17", 8443, 18017)):
        assert "localhost" not in route.then + route.instructions + str(route.commands)


@pytest.mark.parametrize(
    ("node", "destination"),
    [
        ("10.0.1.17; id", "ada@head"),
        ("$(id)", "ada@head"),
        ("10.0.1.17", "ada@head && id"),
        ("10.0.1.17", "-oProxyCommand=id"),
    ],
)
def test_ssh_values_that_would_reach_a_shell_are_refused(node: str, destination: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        access.ssh_tunnel(node, 8443, 18017, destination)


def test_direct_and_held_tunnel_need_nothing_to_run() -> None:
    assert access.direct("203.0.113.7", 8443).commands == ()
    held = access.held_tunnel("10.0.1.17", 8443, 18017)
    assert held.commands == () and "forwards 127.0.0.1:18017 " in held.instructions


def test_pending_and_problem_are_not_usable() -> None:
    assert not access.pending("ssm").usable
    assert not access.problem("ssm", "no credentials").usable
    assert Access("direct", "Direct connection").usable


def test_the_sites_documents_replace_aws_ones_and_the_node_route_never_passes_host() -> None:
    """c.DesktopSettings.ssm_document / ssm_remote_document: the to-node document fixes host
    127.0.0.1 itself, so that route's command must not send one (SSM refuses an unknown
    parameter); the through-the-head-node one takes the node's IP."""
    node = access.ssm_forward(
        "i-0123456789abcdef0", "eu-west-1", 8443, 18442, document="DcvWidget-PortForwardToNode"
    )
    for command in node.commands:
        assert "--document-name DcvWidget-PortForwardToNode " in command.text
        assert shown_parameters(command) == {"portNumber": ["8443"], "localPortNumber": ["18442"]}
    head = access.ssm_forward(
        "i-0123456789abcdef0",
        "eu-west-1",
        8443,
        18442,
        remote_host="10.0.1.5",
        document="arn:aws:ssm:eu-west-1:111122223333:document/DcvWidget-PortForwardThroughHead",
    )
    assert "--document-name arn:aws:ssm:eu-west-1:111122223333:document/DcvWidget-" in (
        head.commands[0].text
    )
    assert shown_parameters(head.commands[0])["host"] == ["10.0.1.5"]


@pytest.mark.parametrize(
    "name", ["x", "AWS StartPortForwardingSession", "doc;id", "$(id)", "a" * 129]
)
def test_a_document_name_that_is_not_one_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ValueError, match=r"^document: .* is not an SSM document name"):
        ssm_argv("i-0123456789abcdef0", "us-east-1", 8443, 18443, document=name)
