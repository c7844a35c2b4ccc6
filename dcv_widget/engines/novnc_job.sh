# ---- engine "novnc": TigerVNC's Xvnc + a window manager + websockify serving noVNC ----
# The VNC password is made here, goes to vncpasswd on stdin and into the session file only.
geometry=@GEOMETRY@
novnc_web=${DCV_WIDGET_NOVNC_WEB:-/usr/share/novnc}

require "ask your admin to install tigervnc-standalone-server, tigervnc-tools, websockify, \
novnc, python3 and iproute2 on the desktop nodes" Xvnc vncpasswd websockify python3 ss
[[ -f $novnc_web/vnc.html ]] || fail "the noVNC web client is not in $novnc_web; install novnc \
or set DCV_WIDGET_NOVNC_WEB"

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

publish_session "$(printf '"host": "%s", "port": %d, "secret": "%s"' "$(hostname)" "$port" "$password")"
log "desktop ready on port $port"

wait_while_alive "$xvnc_pid" "$web_pid"
