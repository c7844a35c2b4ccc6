#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine, idempotently:
# Debian packages (Slurm, munge, TigerVNC, websockify, noVNC, Chromium, Node.js), an unprivileged
# user to own the desktops, and a virtualenv at $DCV_WIDGET_VENV with dcv_widget built from this
# tree (pip builds js/ into the prebuilt JupyterLab extension). Needs root.
#
#   scripts/setup-system.sh [USER]     USER defaults to dcvtest
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${DCV_WIDGET_VENV:-/opt/dcv-widget/venv}
DESKTOP_USER=${1:-dcvtest}

APT_PACKAGES=(
    slurm-wlm munge
    tigervnc-standalone-server tigervnc-tools websockify novnc openbox xterm
    python3 python3-venv python3-dev
    nodejs npm
    chromium fonts-dejavu-core
    procps psmisc iproute2 sudo curl git ca-certificates openssh-server
    systemd  # systemd-socket-activate and systemd-analyze, for the verifier's tests (no init needed)
)

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

[[ $EUID -eq 0 ]] || { echo "setup-system.sh needs root (apt-get, useradd, daemons)" >&2; exit 1; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# A machine may already have Node.js from elsewhere (e.g. NodeSource); keep it.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! id "$DESKTOP_USER" >/dev/null 2>&1; then
    log "creating the unprivileged user $DESKTOP_USER"
    useradd --create-home --shell /bin/bash "$DESKTOP_USER"
fi

if [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV"
    mkdir -p "$(dirname "$VENV")"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
fi
log "installing dcv_widget from $ROOT into $VENV (builds the JupyterLab extension)"
"$VENV/bin/pip" install -q --no-warn-script-location "$ROOT[test,dev,ssh,aws]"
chmod -R a+rX "$VENV"
