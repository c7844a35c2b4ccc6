#!/bin/bash
# dcv_widget: set up a NICE DCV desktop node. An AWS ParallelCluster OnNodeConfigured custom
# action for the desktop queue (see docs/parallelcluster.md); runs as root, on every boot, and
# running it again changes nothing.
#
#   on_node_configured.sh VERIFIER [WEB_PORT]
#
# VERIFIER is where to get dcv_widget's verifier.py (stdlib only, one file): an s3:// URL (the
# queue needs read access to it) or a path, e.g. on the shared /home or /opt/slurm.
# WEB_PORT is DCV's HTTPS port, 8443 by default (the queue's security group must allow it).
#
# It installs the verifier as the service dcv-widget-verifier on 127.0.0.1:8444 (as root: it
# reads the session owner's private ~/.dcv-widget/sessions/<job>.json), points DCV at it
# ([security] auth-token-verifier), sets [connectivity] web-port, and enables dcvserver. No
# user's password is set or changed: desktop jobs open their sessions with one-off tokens.
set -euo pipefail

verifier_source=${1:?usage: $0 VERIFIER(s3:// URL or path of dcv_widget/verifier.py) [WEB_PORT]}
web_port=${2:-8443}
verifier_port=8444
install_dir=/opt/dcv-widget
dcv_conf=/etc/dcv/dcv.conf
unit=/etc/systemd/system/dcv-widget-verifier.service

say() { printf 'dcv-widget node setup: %s\n' "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run me as root (ParallelCluster runs custom actions as root)"
[[ $web_port =~ ^[0-9]{1,5}$ ]] || die "WEB_PORT must be a port number, not '$web_port'"
command -v dcv >/dev/null || die "NICE DCV is not installed on $(hostname); use an AMI with \
DCV (ParallelCluster's official AMIs have it) or install nice-dcv-server and nice-xdcv"
command -v python3 >/dev/null || die "python3 is missing on $(hostname)"

install -d -m 755 "$install_dir"
case $verifier_source in
    s3://*) aws s3 cp --only-show-errors "$verifier_source" "$install_dir/verifier.py.new" ;;
    *) cp "$verifier_source" "$install_dir/verifier.py.new" ;;
esac
chmod 644 "$install_dir/verifier.py.new"
python3 "$install_dir/verifier.py.new" --help >/dev/null || die "$verifier_source is not a \
working dcv_widget verifier.py"
mv "$install_dir/verifier.py.new" "$install_dir/verifier.py"

cat > "$unit" <<EOF
[Unit]
Description=dcv_widget token verifier for NICE DCV (auth-token-verifier)
Before=dcvserver.service

[Service]
ExecStart=/usr/bin/env python3 $install_dir/verifier.py --port $verifier_port
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
systemctl enable dcv-widget-verifier.service dcvserver.service
systemctl restart dcv-widget-verifier.service dcvserver.service
say "dcvserver serves on port $web_port; tokens are checked by dcv-widget-verifier on \
127.0.0.1:$verifier_port"
