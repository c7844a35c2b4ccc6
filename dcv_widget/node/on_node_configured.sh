#!/bin/bash
# dcv_widget: set up a NICE DCV desktop node. An AWS ParallelCluster OnNodeConfigured custom
# action for the desktop queue (see docs/parallelcluster.md); runs as root, on every boot, and
# running it again changes nothing.
#
#   on_node_configured.sh VERIFIER [WEB_PORT] [SHA256]
#
# VERIFIER is where to get dcv_widget's verifier.py (stdlib only, one file): an s3:// URL (the
# queue needs read access to it) or a path on the node.
# WEB_PORT is DCV's HTTPS port, 8443 by default (the queue's security group must allow it); an
# empty argument means the default.
# SHA256 is the verifier's pinned hash (`sha256sum verifier.py`). The verifier runs as root on
# every node, so whoever can change it owns them all: without SHA256, a path is taken only if the
# file and every folder above it are owned by root and writable by nobody else; with SHA256, the
# copy must have that hash, wherever it comes from. An s3:// VERIFIER needs SHA256 (a bucket has
# no owner the node can check).
#
# It installs the verifier as the service dcv-widget-verifier, on 127.0.0.1:844 (a privileged
# port, held by the systemd socket unit dcv-widget-verifier.socket even while the service
# restarts, so no user can ever answer DCV in its place), as root (it reads the session owner's
# private ~/.dcv-widget/sessions/<job>.json); points DCV at it ([security]
# auth-token-verifier); sets [connectivity] web-port; makes /tmp/.X11-unix root's, mode 1777;
# and enables dcvserver. No user's password is set or changed: desktop jobs open their sessions
# with one-off tokens.
set -euo pipefail

usage="usage: $0 VERIFIER(s3:// URL or path of dcv_widget/node/verifier.py) [WEB_PORT] [SHA256]"
verifier_source=${1:?$usage}
web_port=${2:-8443}
pinned=${3:-}
verifier_port=844  # dcv_widget.node.verifier.DEFAULT_PORT
install_dir=/opt/dcv-widget
dcv_conf=/etc/dcv/dcv.conf
units=/etc/systemd/system
x11=/tmp/.X11-unix

say() { printf 'dcv-widget node setup: %s\n' "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

[[ $web_port =~ ^[0-9]{1,5}$ ]] || die "WEB_PORT must be a port number, not '$web_port'"
pinned=${pinned,,}
[[ -z $pinned || $pinned =~ ^[0-9a-f]{64}$ ]] || die "SHA256 must be the 64 hex digits that \
'sha256sum verifier.py' prints, not '$pinned'"

# The verifier's port must be one only root can bind, else any user could answer DCV
# "yes, as <anyone>" whenever the verifier is not listening.
unprivileged_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)
[[ $unprivileged_start =~ ^[0-9]+$ ]] || unprivileged_start=1024  # unreadable: Linux's default
((unprivileged_start > verifier_port)) || die "net.ipv4.ip_unprivileged_port_start is \
$unprivileged_start on $(hostname), so port $verifier_port is not privileged and any user could \
take the verifier's place; set it back to 1024 (sysctl -w net.ipv4.ip_unprivileged_port_start=1024, \
and remove the setting from /etc/sysctl.conf and /etc/sysctl.d/) and run this again"

# fetch_checked DEST: copy the verifier to DEST, refusing a source that is not trustworthy (see
# the header). The checks are made on what is actually read (an open file descriptor, each
# folder opened without following symlinks), and the pinned hash on the copy itself, so the
# source cannot be swapped between the check and the copy.
fetch_checked() {
    local dest=$1 got
    case $verifier_source in
        s3://*)
            [[ -n $pinned ]] || die "an s3:// VERIFIER needs its SHA256 as the third argument \
(a bucket has no owner this node can check): run 'sha256sum verifier.py' where you uploaded it"
            command -v aws >/dev/null || die "the aws CLI is missing on $(hostname); it is \
needed to read $verifier_source"
            aws s3 cp --only-show-errors "$verifier_source" "$dest" \
                || die "could not copy $verifier_source (does the queue's IAM role allow s3:GetObject?)"
            ;;
        *)
            local trusted_uid=0
            [[ -n $pinned ]] && trusted_uid=any  # the hash below decides
            python3 - "$verifier_source" "$dest" "$trusted_uid" <<'CHECK_SOURCE' || exit 1
import os, pwd, stat, sys

source, dest, trusted = sys.argv[1:]  # trusted: "any", or the owners allowed ("0": root)
owners = None if trusted == "any" else [int(uid) for uid in trusted.split(",")]


problems = []  # every one found, the file's own first


def refuse(problem):
    sys.exit("dcv-widget node setup: ERROR: refusing the verifier %s: %s; it runs as root on "
             "every node, so keep it where only root can write (e.g. install it from the "
             "package into /opt), or pin its hash (third argument: sha256sum verifier.py)"
             % (source, problem))


def check(fd, path):
    info = os.fstat(fd)
    if owners is not None and info.st_uid not in owners:
        try:
            owner = "%s (uid %d)" % (pwd.getpwuid(info.st_uid).pw_name, info.st_uid)
        except KeyError:
            owner = "uid %d" % info.st_uid
        problems.insert(0, "%s is owned by %s, not root" % (path, owner))
    if owners is not None and info.st_mode & 0o022:
        problems.insert(0, "%s is writable by its group or others (mode %o)"
                        % (path, stat.S_IMODE(info.st_mode)))
    return info


# Resolve symlinks once, then open every component of the result without following any: a
# symlink that appears afterwards makes the open fail rather than lead elsewhere.
resolved = os.path.realpath(source)
fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
path = "/"
try:
    parts = [part for part in resolved.split("/") if part]
    info = check(fd, path)
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_NONBLOCK if last else os.O_DIRECTORY)
        try:
            next_fd = os.open(part, flags, dir_fd=fd)
        except OSError as error:
            refuse("cannot open %s: %s" % (os.path.join(path, part), error.strerror))
        os.close(fd)
        fd, path = next_fd, os.path.join(path, part)
        info = check(fd, path)
    if not stat.S_ISREG(info.st_mode):
        problems.insert(0, "%s is not a regular file" % path)
    if problems:
        refuse("; ".join(problems))
    data = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        data += chunk
finally:
    os.close(fd)
with open(dest, "wb") as out:
    out.write(data)
CHECK_SOURCE
            ;;
    esac
    if [[ -n $pinned ]]; then
        got=$(sha256sum "$dest") || die "could not hash the copy of $verifier_source"
        got=${got%% *}
        [[ $got == "$pinned" ]] || die "the verifier from $verifier_source has sha256 $got, \
not the pinned $pinned; refusing it (was it changed, or is the pin out of date? compute it with \
'sha256sum verifier.py' from the dcv_widget release you deploy)"
    fi
}

command -v python3 >/dev/null || die "python3 is missing on $(hostname)"
# A private folder (0700, owned by whoever runs this: root on a node) for the checked copy.
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
fetch_checked "$staging/verifier.py"
say "verifier source $verifier_source passed the checks"

[[ $EUID -eq 0 ]] || die "run me as root (ParallelCluster runs custom actions as root)"
command -v dcv >/dev/null || die "NICE DCV is not installed on $(hostname); use an AMI with \
DCV (ParallelCluster's official AMIs have it) or install nice-dcv-server and nice-xdcv"
python=$(command -v python3)

install -d -m 755 -o root -g root "$install_dir"
install -m 644 -o root -g root "$staging/verifier.py" "$install_dir/verifier.py.new"
"$python" "$install_dir/verifier.py.new" --help >/dev/null || die "$verifier_source is not a \
working dcv_widget verifier.py"
mv "$install_dir/verifier.py.new" "$install_dir/verifier.py"

# X servers' sockets live in /tmp/.X11-unix: root's and sticky, or a user could own every
# desktop's display socket. A stray one (another owner, not a folder) is moved aside, not
# adopted: whatever its owner left inside would stay theirs.
if [[ -L $x11 || (-e $x11 && ! -d $x11) || (-d $x11 && $(stat -c %u "$x11") != 0) ]]; then
    aside="$x11.untrusted.$(date +%s)"
    mv -T -- "$x11" "$aside"
    say "moved $x11 (not root's) aside to $aside"
fi
# Created if missing, then fixed through a descriptor opened without following links: a user
# racing this with a symlink gets a refusal, never root's chown/chmod on the link's target.
replaced="$x11 is not a folder of root's (replaced meanwhile?); remove it and run this again"
"$python" - "$x11" <<'EOF' || die "$replaced"
import os, stat, sys
path = sys.argv[1]
try:
    os.mkdir(path, 0o700)
except FileExistsError:
    pass
fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
info = os.fstat(fd)
if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0:
    sys.exit(1)
os.fchown(fd, 0, 0)
os.fchmod(fd, 0o1777)
os.close(fd)
EOF
[[ ! -L $x11 && $(stat -c %u:%a "$x11") == 0:1777 ]] || die "$x11 is not root's with mode \
1777; remove it and run this again"

# systemd holds the port (ListenStream) and hands it to the service as fd 3, across restarts.
cat > "$units/dcv-widget-verifier.socket" <<EOF
[Unit]
Description=dcv_widget token verifier's socket for NICE DCV (held by systemd)
Before=dcvserver.service

[Socket]
ListenStream=127.0.0.1:$verifier_port
Backlog=64

[Install]
WantedBy=sockets.target
EOF

cat > "$units/dcv-widget-verifier.service" <<EOF
[Unit]
Description=dcv_widget token verifier for NICE DCV (auth-token-verifier)
Requires=dcv-widget-verifier.socket
After=dcv-widget-verifier.socket
Before=dcvserver.service

[Service]
ExecStart=$python $install_dir/verifier.py --port $verifier_port
Environment=PATH=/usr/bin:/bin:/usr/sbin:/sbin
Restart=on-failure
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=read-only

[Install]
WantedBy=multi-user.target
EOF

# set_conf SECTION KEY VALUE: set one setting of dcv.conf, keeping every other line as it is.
set_conf() {
    python3 - "$dcv_conf" "$@" <<'EOF'
import os, re, shutil, sys
path, section, key, value = sys.argv[1:]
try:
    with open(path) as f:
        lines = f.read().splitlines()
except FileNotFoundError:
    lines = []
header, setting = "[%s]" % section, "%s=%s" % (key, value)
current, start, found = None, None, None
for i, line in enumerate(lines):
    text = line.strip()
    if text.startswith("["):
        current = text.replace(" ", "")
        start = i if current == header else start
    elif current == header and re.match(re.escape(key) + r"\s*=", text):
        found = i
if found is not None:
    lines[found] = setting
elif start is not None:
    lines.insert(start + 1, setting)
else:
    lines += ["", header, setting]
with open(path + ".new", "w") as f:
    f.write("\n".join(lines) + "\n")
if os.path.exists(path):
    shutil.copymode(path, path + ".new")
os.replace(path + ".new", path)
EOF
}
install -d -m 755 "$(dirname "$dcv_conf")"
set_conf security auth-token-verifier "\"http://127.0.0.1:$verifier_port\""
set_conf connectivity web-port "$web_port"

systemctl daemon-reload
systemctl enable dcv-widget-verifier.socket dcv-widget-verifier.service dcvserver.service
# The service first: it holds the socket, and a changed ListenStream takes a socket restart.
systemctl stop dcv-widget-verifier.service
systemctl restart dcv-widget-verifier.socket
systemctl start dcv-widget-verifier.service
systemctl restart dcvserver.service
say "dcvserver serves on port $web_port; tokens are checked by dcv-widget-verifier on \
127.0.0.1:$verifier_port (socket held by systemd)"
