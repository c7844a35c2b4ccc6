
# ---- engine "novnc": TigerVNC's Xvnc + a window manager + websockify serving noVNC ----
# Other users share this node (docs/security.md), so each way into the desktop has its own lock:
# - the X display admits only clients with this job's X cookie (Xvnc -auth, a private file);
# - websockify lets a WebSocket through to the VNC server only with this desktop's token (192
#   random bits), so nobody else even reaches VNC's password check, let alone locks it up with
#   failed logins; the VNC password is derived from the token (novnc.py beside this file);
# - websockify listens on one address, the node's, or on loopback only (both families) for the
#   ssm route;
# - websockify speaks TLS only (--ssl-only), with a certificate made here for this desktop, so
#   nothing of the desktop (page, token, screen, keys) crosses the network in clear; the session
#   file records the certificate, which the Jupyter server's proxy pins.
# Secrets are made by python3 (and the TLS key by openssl, straight into its file) and reach
# files through pipes and builtins, never argv or the log.
geometry=@GEOMETRY@
idle_timeout=@IDLE_TIMEOUT@  # minutes without a connection before the job ends itself (0: never)
idle_grace=@IDLE_GRACE@      # seconds after the desktop is ready before the idle clock starts
poll_every=@POLL_SECONDS@    # seconds between looks at the desktop's processes and viewers
listen_on=@LISTEN@  # "node": the address Slurm knows the node by; "loopback": 127.0.0.1 and ::1
cert_days=@CERT_DAYS@  # the certificate's validity: longer than the job's time limit
novnc_web=${DCV_WIDGET_NOVNC_WEB:-/usr/share/novnc}

require "ask your admin to install tigervnc-standalone-server, tigervnc-tools, websockify, \
novnc, python3, iproute2 and openssl on the desktop nodes" Xvnc vncpasswd websockify python3 ss \
    openssl
[[ -f $novnc_web/vnc.html ]] || fail "the noVNC web client is not in $novnc_web; install novnc \
or set DCV_WIDGET_NOVNC_WEB"
require_root_sticky /tmp/.X11-unix "X display sockets"

# The node's IPv4 address as Slurm knows it (NodeAddr), which the kernel builds URLs from: a
# literal address, so no URL leaves the browser free to pick another address family where
# another user may listen on the same port.
node_ipv4() {
    local addr
    addr=$(sinfo --noheader --Node --nodes="$node_name" --format=%o \
        2>/dev/null | head -n 1)
    getent ahostsv4 "${addr:-$(hostname)}" 2>/dev/null | awk 'NR == 1 { print $1 }'
}
address=$(node_ipv4)
[[ $address =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || fail "cannot find the IPv4 address of \
$node_name (NodeAddr in Slurm); ask your admin to check name resolution on the node"
case $listen_on in
    loopback) bind_address=127.0.0.1 ;;
    *) bind_address=$address ;;
esac

token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
[[ ${#token} -ge 32 ]] || fail "could not make a token (python3 failed)"
# The VNC password: the first 8 characters (all VNC authentication uses) of a hash of the token.
printf '%s' "$token" | python3 -c 'import base64, hashlib, sys
digest = hashlib.sha256(b"dcv-widget vnc password:" + sys.stdin.buffer.read()).digest()
print(base64.urlsafe_b64encode(digest).decode()[:8])' | vncpasswd -f > "$work/passwd" \
    || fail "vncpasswd failed"
# websockify's token table: this desktop's token leads to the VNC socket in the private folder
# (websockify splits each line at ": ", so the path may not hold one).
[[ $work != *": "* ]] || fail "the home folder $HOME contains ': ', which websockify's token \
table cannot hold; ask your admin"
printf '%s: unix_socket:%s\n' "$token" "$work/vnc.sock" > "$work/tokens"

# The X authority file: one random MIT-MAGIC-COOKIE-1, for any display number (FamilyWild, no
# number), since Xvnc picks its display itself (-displayfd).
python3 - "$work/Xauthority" <<'PY' || fail "could not write the X authority file (python3 failed)"
import os, secrets, struct, sys
def counted(data):
    return struct.pack(">H", len(data)) + data
entry = struct.pack(">H", 0xFFFF) + counted(b"") + counted(b"") + counted(b"MIT-MAGIC-COOKIE-1")
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, entry + counted(secrets.token_bytes(16)))
os.close(fd)
PY
export XAUTHORITY=$work/Xauthority

# -displayfd lets Xvnc pick a free display, so several desktops share a node without clashing;
# the VNC side is a unix socket in the private folder, never a TCP port. No blacklist: every
# client comes through websockify (with the token) on that one socket, so TigerVNC would take
# five logins in progress (two tabs reconnecting) for an attack and lock the owner out.
Xvnc -displayfd 3 -auth "$XAUTHORITY" -rfbunixpath "$work/vnc.sock" -rfbport -1 \
    -rfbauth "$work/passwd" -SecurityTypes VncAuth -geometry "$geometry" -depth 24 \
    -nolisten tcp -AlwaysShared -UseBlacklist=0 3>"$work/display" >"$work/xvnc.log" 2>&1 &
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

# The desktop's TLS certificate, self-signed, for the address(es) websockify listens on (IP
# SANs: URLs name the literal address). The key is made by openssl straight into the private
# folder (0600 through umask 077, in the 0700 folder, removed with it on exit): never in argv,
# never printed. The certificate is public; the session file records it for the proxy to pin.
case $listen_on in
    loopback) names="IP:127.0.0.1, IP:::1" ;;
    *) names="IP:$bind_address" ;;
esac
printf '%s\n' "[req]" "distinguished_name = subject" "x509_extensions = desktop" "prompt = no" \
    "[subject]" "CN = $bind_address" "[desktop]" "subjectAltName = $names" \
    "basicConstraints = critical, CA:FALSE" "keyUsage = critical, digitalSignature" \
    "extendedKeyUsage = serverAuth" "subjectKeyIdentifier = hash" \
    "authorityKeyIdentifier = keyid:always" > "$work/tls.cnf"
# Two steps (ecparam, then req -key) rather than req -newkey ec: OpenSSL 1.0.2 (Amazon Linux 2)
# knows only these.
{ openssl ecparam -name prime256v1 -genkey -noout -out "$work/tls.key" \
    && openssl req -new -x509 -config "$work/tls.cnf" -key "$work/tls.key" -sha256 \
        -days "$cert_days" -out "$work/tls.crt"; } >"$work/openssl.log" 2>&1 \
    || { tail -n 5 "$work/openssl.log"; fail "could not make the desktop's TLS certificate"; }
cert=$(python3 -c 'import json, sys; print(json.dumps(sys.stdin.read()))' < "$work/tls.crt")
[[ $cert == '"-----BEGIN CERTIFICATE-----'* ]] || fail "could not read the desktop's TLS \
certificate (python3 failed)"

# websockify listening on $1 at $2, as seen by ss: the port is ours, not another process's
# that grabbed it between the free-port probe and websockify's bind.
listening() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -q "pid=$2,"; }

# websockify logs each request line, and the WebSocket's carries the token: its log keeps
# everything but that.
hide_tokens() { sed -u -E 's/token=[^ &"]*/token=(hidden)/g; s/Token '\''[^'\'']*'\''/Token (hidden)/g'; }

# The addresses to listen on. On loopback (the ssm route: the SSM agent connects to
# "localhost", which may mean ::1 first), both families' loopback, so nobody else can take
# [::1]:<port> and receive the token; where the node has no IPv6, nobody can bind ::1 either.
addresses=("$bind_address")
if [[ $listen_on == loopback ]] && python3 -c 'import socket
socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    addresses+=("[::1]")
fi

web_pids=()
for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
print(s.getsockname()[1])' "$bind_address")
    web_pids=()
    for listen_address in "${addresses[@]}"; do
        log_file=$work/websockify.log
        [[ $listen_address == "[::1]" ]] && log_file=$work/websockify-ipv6.log
        websockify --web "$novnc_web" --cert "$work/tls.crt" --key "$work/tls.key" --ssl-only \
            --token-plugin ReadOnlyTokenFile --token-source "$work/tokens" \
            "$listen_address:$port" > >(hide_tokens >"$log_file") 2>&1 &
        web_pids+=($!)
    done
    for _ in $(seq 100); do
        up=0
        for pid in "${web_pids[@]}"; do
            listening "$port" "$pid" && up=$((up + 1))
        done
        ((up == ${#web_pids[@]})) && break 2
        for pid in "${web_pids[@]}"; do kill -0 "$pid" 2>/dev/null || break 2; done
        sleep 0.2
    done
    kill "${web_pids[@]}" 2>/dev/null
    log "port $port was not usable on ${addresses[*]}; trying another"
done
for pid in "${web_pids[@]}"; do
    listening "$port" "$pid" || { tail -n 5 "$work/websockify.log"; fail "websockify did not start"; }
done

publish_session "$(printf '"host": "%s", "port": %d, "secret": "%s", "cert": %s' "$address" \
    "$port" "$token" "$cert")"
log "desktop ready on $bind_address port $port"

# desktop_gone: Xvnc or a websockify exited (the session's logout ends Xvnc's clients, not Xvnc).
desktop_gone() {
    local pid
    for pid in "$xvnc_pid" "${web_pids[@]}"; do kill -0 "$pid" 2>/dev/null || return 0; done
    return 1
}
# viewers: the desktop's VNC clients. websockify opens one connection to Xvnc's private socket
# per viewer (a noVNC tab, through any route) and closes it with the viewer, so the accepted ends
# of that socket count them; loading the noVNC page (plain HTTPS) does not count. Only the ends
# Xvnc holds (ss -p): any user can bind a socket under the same path in a mount namespace of their
# own and hold connections to it, which a count by path alone would take for viewers.
viewers() {
    ss -Hxp state established src "$work/vnc.sock" \
        | awk -v held="pid=$xvnc_pid," 'index($0, held) { n++ } END { print n + 0 }'
}

watch_desktop
