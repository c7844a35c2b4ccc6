#!/usr/bin/env bash
# The demo: JupyterLab on the quickstart notebook, launching real desktops (engine novnc) on an
# embedded single-node Slurm. Installs what it needs on a fresh Debian machine.
#
#   sudo scripts/demo.sh          then open the printed http://127.0.0.1:8888/... URL
#   sudo scripts/local-slurm.sh stop      when you are done
#
# JupyterLab runs as the user who called sudo (or as `dcvdemo` when run as plain root), so the
# desktops are that user's Slurm jobs, as on a real cluster. DEMO_IP / DEMO_PORT change where it
# listens (default 127.0.0.1:8888).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $EUID -ne 0 ]]; then
    exec sudo --preserve-env=DEMO_IP,DEMO_PORT,DCV_WIDGET_VENV "$0" "$@"
fi
VENV=${DCV_WIDGET_VENV:-/opt/dcv-widget/venv}
DEMO_USER=${SUDO_USER:-dcvdemo}
[[ $DEMO_USER == root ]] && DEMO_USER=dcvdemo

"$ROOT/scripts/setup-system.sh" "$DEMO_USER"
"$ROOT/scripts/local-slurm.sh" start

home=$(getent passwd "$DEMO_USER" | cut -d: -f6)
notebooks="$home/dcv-widget-notebooks"
# The demo user's copies of the tutorials: missing ones copied in, those whose tutorial changed
# refreshed, a copy they changed kept beside it (tutorial-copies.sh). Done as that user, so that
# nothing in their home belongs to root; the tutorials are staged where they can read them (the
# clone may be in a folder they cannot), and the script is read by root and fed to their bash.
shipped=$(mktemp -d)
trap 'rm -rf "$shipped"' EXIT
install -m 0644 "$ROOT"/notebooks/*.ipynb "$shipped"/
chmod 0755 "$shipped"
runuser -u "$DEMO_USER" -- bash -s -- "$shipped" "$notebooks" <"$ROOT/scripts/tutorial-copies.sh"
rm -rf "$shipped" && trap - EXIT # exec below runs no EXIT trap

# JupyterLab's "get notified about official Jupyter news?" prompt would greet every demo user
# over the notebook: the demo user's JupyterLab settings turn news and update checks off, unless
# they have settings of their own for it (as the tests' JupyterLab does: tests/e2e/lab.py).
# Written as that user, so nothing in their home belongs to root.
lab_settings="$home/.jupyter/lab/user-settings/@jupyterlab/apputils-extension"
if [[ ! -e $lab_settings/notification.jupyterlab-settings ]]; then
    runuser -u "$DEMO_USER" -- install -d "$lab_settings"
    echo '{"fetchNews": "false", "checkForUpdates": false}' |
        runuser -u "$DEMO_USER" -- tee "$lab_settings/notification.jupyterlab-settings" >/dev/null
fi

echo "Starting JupyterLab as $DEMO_USER on $notebooks/01-quickstart.ipynb (Ctrl-C stops it)"
cd "$notebooks"
# No news feed and no update check: nothing calls home from a demo.
exec runuser -u "$DEMO_USER" -- env -i \
    HOME="$home" USER="$DEMO_USER" LOGNAME="$DEMO_USER" LANG=C.UTF-8 \
    PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" \
    "$VENV/bin/jupyter" lab --ServerApp.ip="${DEMO_IP:-127.0.0.1}" \
    --ServerApp.port="${DEMO_PORT:-8888}" --ServerApp.root_dir="$notebooks" \
    --LabApp.news_url= --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
    01-quickstart.ipynb
