#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine, idempotently:
# Debian packages (Slurm with slurmdbd and MariaDB, munge, TigerVNC, websockify, noVNC, Chromium, Node.js), an unprivileged
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
    slurmdbd mariadb-server  # accounting: QOS, accounts, sacct end states, operators (local-slurm.sh)
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

# The e2e tests under JupyterHub (tests/e2e/hub.py; jupyterhub itself comes with the `test`
# extra) need its proxy, configurable-http-proxy from npm: installed into the virtualenv
# ($VENV/bin/configurable-http-proxy, $VENV/lib/node_modules/), so the machine's global npm is
# left alone and the proxy goes with the venv. 4.6: the dependencies of 5.x ask for Node.js 22,
# Debian 13 has 20.
CHP_VERSION=4.6.3
if [[ $("$VENV/bin/configurable-http-proxy" --version 2>/dev/null) != "$CHP_VERSION" ]]; then
    log "installing configurable-http-proxy $CHP_VERSION into $VENV"
    npm install --global --prefix "$VENV" --no-audit --no-fund --loglevel=error \
        "configurable-http-proxy@$CHP_VERSION" >/dev/null
    chmod -R a+rX "$VENV/lib/node_modules"
fi

# What tests/integration/test_wheel_install.py needs to build the wheel and install it into a
# fresh virtualenv without the network: a wheelhouse with the build requirements and the
# runtime dependencies (plus JupyterLab, which a head node has), and js/'s node_modules. Each
# is checked offline first, so a machine that has them spends a few seconds here.
WHEELHOUSE=/opt/dcv-widget/wheelhouse
JS_DEPS=/opt/dcv-widget/js-deps
requirements() {  # a requirement list of pyproject.toml (table, key), one a line
    "$VENV/bin/python" -c 'import sys, tomllib
table = tomllib.load(open(sys.argv[1], "rb"))
print("\n".join(table[sys.argv[2]][sys.argv[3]]))' "$ROOT/pyproject.toml" "$@"
}
fill_wheelhouse() {
    "$VENV/bin/pip" wheel -q --no-index --find-links "$WHEELHOUSE" -w "$WHEELHOUSE" "$@" \
        >/dev/null 2>&1 || "$VENV/bin/pip" wheel -q -w "$WHEELHOUSE" "$@"
}
log "filling $WHEELHOUSE and $JS_DEPS (offline wheel build and install)"
mkdir -p "$WHEELHOUSE" "$JS_DEPS"
mapfile -t build_requirements < <(requirements build-system requires)
mapfile -t runtime_requirements < <(requirements project dependencies)
# Two resolutions: the build pins JupyterLab below 4.6 (docs/development.md), a head node runs
# the newest.
fill_wheelhouse "${build_requirements[@]}"
fill_wheelhouse "${runtime_requirements[@]}" jupyterlab
cp "$ROOT/js/package.json" "$ROOT/js/package-lock.json" "$JS_DEPS/"
(cd "$JS_DEPS" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
chmod -R a+rX "$WHEELHOUSE" "$JS_DEPS"
