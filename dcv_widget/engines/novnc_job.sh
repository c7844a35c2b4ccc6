#!/bin/bash
# dcv_widget desktop job, engine "novnc": TigerVNC's Xvnc + a window manager + websockify serving
# the noVNC web client. Rendered by dcv_widget/engines/novnc.py and fed to sbatch on stdin.
#
# Secrets: the VNC password is made here, goes to vncpasswd on stdin and into the session file
# (mode 0600 in a 0700 folder). It never reaches argv, stdout/stderr or this job's log.
set -uo pipefail
umask 077

geometry=@GEOMETRY@
launch_id=@LAUNCH_ID@
novnc_web=${DCV_WIDGET_NOVNC_WEB:-/usr/share/novnc}
state_dir="$HOME/.dcv-widget"
sessions="$state_dir/sessions"
work="$state_dir/run/$SLURM_JOB_ID"
session_file="$sessions/$SLURM_JOB_ID.json"
tmp_file="$sessions/.$SLURM_JOB_ID.json.tmp"

log() { printf '%s dcv-widget: %s\n' "$(date +%T)" "$*"; }
fail() { log "ERROR: $*"; exit 1; }

cleanup() {
    # Ignore further stop signals (a second scancel) so the clean-up always finishes.
    trap '' TERM INT HUP USR1
    trap - EXIT
    rm -f "$session_file" "$tmp_file"
    kill $(jobs -pr) 2>/dev/null
    for _ in $(seq 25); do
        [[ -z $(jobs -pr) ]] && break
        sleep 0.2
    done
    kill -KILL $(jobs -pr) 2>/dev/null
    rm -rf "$work"
    log "desktop closed"
}
trap cleanup EXIT
# scancel and the time limit send SIGTERM; --signal may send USR1 earlier.
trap 'log "stop requested"; exit 0' TERM INT HUP USR1

for cmd in Xvnc vncpasswd websockify python3 ss; do
    command -v "$cmd" >/dev/null || fail "$cmd is missing on $(hostname); ask your admin to install \
tigervnc-standalone-server, tigervnc-tools, websockify, novnc, python3 and iproute2 on the desktop nodes"
done
[[ -f $novnc_web/vnc.html ]] || fail "the noVNC web client is not in $novnc_web; install novnc \
or set DCV_WIDGET_NOVNC_WEB"

mkdir -p "$state_dir" "$sessions" "$state_dir/run" "$work" || fail "cannot create $work"
chmod 700 "$state_dir" "$sessions" "$state_dir/run" "$work"
# A file left by an earlier job with this id (killed with SIGKILL, cluster rebuilt) is not ours.
rm -f "$session_file" "$tmp_file"

cd "$HOME" || fail "cannot enter $HOME"
log "job $SLURM_JOB_ID on $(hostname): starting the desktop"
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(6))')
printf '%s\n' "$password" | vncpasswd -f > "$work/passwd" || fail "vncpasswd failed"

# -displayfd lets Xvnc pick a free display, so several desktops share a node without clashing;
# the VNC side is a unix socket in the private folder, never a TCP port.
Xvnc -displayfd 3 -rfbunixpath "$work/vnc.sock" -rfbport -1 -rfbauth "$work/passwd" \
    -SecurityTypes VncAuth -geometry "$geometry" -depth 24 -nolisten tcp -AlwaysShared \
    3>"$work/display" >"$work/xvnc.log" 2>&1 &
xvnc_pid=$!
for _ in $(seq 100); do
    [[ -s $work/display ]] && [[ -S $work/vnc.sock ]] && break
    kill -0 "$xvnc_pid" 2>/dev/null || break
    sleep 0.2
done
[[ -s $work/display ]] || { tail -n 5 "$work/xvnc.log"; fail "Xvnc did not start"; }
export DISPLAY=":$(cat "$work/display")"
log "X display $DISPLAY is up"

if command -v startxfce4 >/dev/null && command -v dbus-run-session >/dev/null; then
    # dbus-run-session keeps the session's D-Bus daemon a child of this job, so it ends with it.
    dbus-run-session startxfce4 >"$work/session.log" 2>&1 &
else
    command -v openbox >/dev/null && { openbox >"$work/session.log" 2>&1 & }
    command -v xterm >/dev/null && { xterm -geometry 100x30+40+40 >/dev/null 2>&1 & }
fi

# websockify listening on $1, as seen by ss: the port is ours, not another process's that
# grabbed it between the free-port probe and websockify's bind.
listening() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -q "pid=$web_pid,"; }

web_pid=""
for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
    websockify --web "$novnc_web" --unix-target="$work/vnc.sock" "$port" >"$work/websockify.log" 2>&1 &
    web_pid=$!
    for _ in $(seq 100); do
        listening "$port" && break 2
        kill -0 "$web_pid" 2>/dev/null || break
        sleep 0.2
    done
    kill "$web_pid" 2>/dev/null
    log "port $port was not usable; trying another"
done
listening "$port" || { tail -n 5 "$work/websockify.log"; fail "websockify did not start"; }

printf '{"version": 1, "engine": "novnc", "job_id": "%s", "launch": "%s", "host": "%s", "port": %d, "secret": "%s"}\n' \
    "$SLURM_JOB_ID" "$launch_id" "$(hostname)" "$port" "$password" > "$tmp_file" \
    && mv "$tmp_file" "$session_file"
log "desktop ready on port $port"

# Live until Xvnc or websockify ends, or Slurm stops the job. (A sleep loop rather than
# `wait -n PID...`, which needs bash 5.1: Amazon Linux 2 has 4.2.)
while kill -0 "$xvnc_pid" 2>/dev/null && kill -0 "$web_pid" 2>/dev/null; do
    sleep 5 &
    wait $!
done
log "the desktop server exited"
