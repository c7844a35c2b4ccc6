
# ---- engine "dcv": a NICE DCV virtual session with token authentication ----
# The node's dcvserver asks dcv_widget's verifier (dcv_widget/node/verifier.py, set up by
# dcv_widget/node/) about each client; it accepts the token below for this session's owner only.
# The token is made by python3 and handed through pipes and bash builtins (printf), so it is
# never in a process's argv; it is written only into the private session file.
geometry=@GEOMETRY@          # the session's screen at the start, WIDTHxHEIGHT
idle_timeout=@IDLE_TIMEOUT@  # minutes without a connection before the job ends itself (0: never)
idle_grace=@IDLE_GRACE@      # seconds after the desktop is ready before the idle clock starts
poll_every=@POLL_SECONDS@    # seconds between looks at the session's connections
dcv_conf=${DCV_WIDGET_DCV_CONF:-/etc/dcv/dcv.conf}  # the site may keep it elsewhere
# Where instance metadata is asked: the variable AWS's SDKs honour, for IMDS proxies and tests.
imds=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}
imds=${imds%/}

require "ask your admin to install NICE DCV and python3 on the desktop nodes \
(dcv_widget/node/ sets a ParallelCluster node up)" dcv python3 curl
# DCV's X servers put their sockets there too, as the session's owner.
require_root_sticky /tmp/.X11-unix "X display sockets"

# The session's name: the job id (one per job, so desktops on a node never collide) and a random
# suffix (82 bits from python's secrets, lowercase letters and digits as DCV accepts), so nobody
# can guess it and create it first to block this desktop. The verifier knows this form; the
# session file records the name for Connect.
session_id=dcvw-$SLURM_JOB_ID-$(python3 -c 'import secrets, string
print("".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(16)))')
[[ $session_id =~ ^dcvw-[0-9]+-[a-z0-9]{16}$ ]] || fail "could not make a session name \
(python3 failed: '$session_id')"

session_created=""
stop_desktop() {
    [[ -n $session_created ]] && dcv close-session "$session_id" >/dev/null 2>&1
    return 0
}

# The seed's "magic command": no GNOME lock screen inside the desktop (nobody could unlock it:
# this job never sets a password). Absent gsettings or D-Bus only means there is nothing to do.
if command -v gsettings >/dev/null && command -v dbus-run-session >/dev/null; then
    timeout 20 dbus-run-session -- sh -c 'gsettings set org.gnome.desktop.session idle-delay 0;
        gsettings set org.gnome.desktop.screensaver lock-enabled false' >/dev/null 2>&1 \
        || log "could not turn the lock screen off (not a GNOME desktop?); continuing"
fi

if ! dcv list-sessions >/dev/null 2>&1; then
    log "dcvserver does not answer; trying to start it"
    command -v sudo >/dev/null && sudo -n systemctl start dcvserver >/dev/null 2>&1
    for _ in $(seq 30); do
        dcv list-sessions >/dev/null 2>&1 && break
        sleep 1
    done
    dcv list-sessions >/dev/null 2>&1 || fail "dcvserver is not running on $node_name and this \
job may not start it; ask your admin to enable it on the desktop nodes (systemctl enable --now \
dcvserver; dcv_widget/node/ does this)"
fi

dcv create-session --type virtual --owner "$USER" "$session_id" >"$work/create.log" 2>&1 \
    || { tail -n 5 "$work/create.log"; fail "dcv create-session $session_id failed"; }
session_created=1
log "DCV session $session_id created"

# The launch's screen size, one head at the origin, as DCV's admin guide sets a session's
# layout. It is where the desktop starts: DCV's web client asks for its window's size when set to
# fit it, and dcv.conf bounds both (max-head-resolution, web-client-max-head-resolution), so a
# layout DCV refuses leaves the session at its own size; the desktop works all the same.
if dcv set-display-layout --session "$session_id" "$geometry+0+0" >"$work/layout.log" 2>&1; then
    log "DCV session $session_id display layout $geometry"
else
    log "dcv set-display-layout $geometry was refused ($(tail -n 1 "$work/layout.log")); the \
session keeps its own size"
fi

token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
[[ -n $token ]] || fail "could not make a token (python3 failed)"

# DCV serves every session of the node on one web port; the site may have changed it.
port=$(awk -F= '/^[[:space:]]*\[/ { section = $0; gsub(/[[:space:]]/, "", section) }
    section == "[connectivity]" && $1 ~ /^[[:space:]]*web-port[[:space:]]*$/ {
        value = $2; gsub(/[[:space:]"]/, "", value); print value }' "$dcv_conf" 2>/dev/null)
port=${port##*$'\n'}
[[ $port =~ ^[0-9]{1,5}$ ]] || port=8443

# The certificate DCV's web server presents, recorded for the Jupyter server's proxy to pin. It
# is read here, on the node, over loopback, from the port dcvserver holds: `dcv list-sessions`
# above showed dcvserver runs, so it has bound its web port (on every address by default), and
# no other user can listen on a port a running listener holds (SO_REUSEPORT is shared only
# between sockets of the same user); loopback never leaves the node, so nobody on the network
# can answer in its place. (Where a site binds DCV to other addresses only, whatever answers on
# 127.0.0.1 is not what the proxy meets at the node's address: the proxy refuses, it is never
# misled.) A site with a CA-signed certificate gets its leaf pinned all the same. No
# certificate read: the desktop is published without one, the other routes work.
cert=$(python3 - "$port" 2>/dev/null <<'PY'
import json, socket, ssl, sys, time
socket.setdefaulttimeout(10)
for attempt in range(3):
    try:
        print(json.dumps(ssl.get_server_certificate(("127.0.0.1", int(sys.argv[1])))))
        break
    except OSError:
        time.sleep(1)
PY
)
if [[ $cert != '"-----BEGIN CERTIFICATE-----'* ]]; then
    cert='""'
    log "could not read DCV's certificate on 127.0.0.1:$port; the jupyter route will refuse \
this desktop (the other routes work)"
fi

# EC2 instance metadata (IMDSv2), for the access routes; off EC2 each lookup fails within a second.
# The IMDS token reaches curl on stdin (-H @-), not in its argv.
imds_token=""
[[ ${AWS_EC2_METADATA_DISABLED:-} == true ]] || imds_token=$(curl -fsS --connect-timeout 1 \
    --max-time 1 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$imds/latest/api/token" \
    2>/dev/null)
metadata() {
    [[ -n $imds_token ]] || return 0
    printf 'X-aws-ec2-metadata-token: %s\n' "$imds_token" | curl -fsS --connect-timeout 1 \
        --max-time 1 -H @- "$imds/latest/meta-data/$1" 2>/dev/null
}
private_ip=$(metadata local-ipv4)
public_ip=$(metadata public-ipv4)
instance_id=$(metadata instance-id)
region=$(metadata placement/region)

publish_session "$(printf '"host": %s, "port": %d, "session_id": "%s", "secret": "%s", ' \
    "$(json_string "$(hostname)")" "$port" "$session_id" "$token")$(printf \
    '"private_ip": %s, "public_ip": %s, "instance_id": %s, "region": %s, "cert": %s' \
    "$(json_string "$private_ip")" "$(json_string "$public_ip")" \
    "$(json_string "$instance_id")" "$(json_string "$region")" "$cert")"
log "desktop ready: DCV session $session_id on port $port"

# desktop_gone: the session was closed (a logout, an admin). viewers: how many clients DCV
# reports for the session (describe-session's num-of-connections).
desktop_gone() {
    dcv describe-session "$session_id" >/dev/null 2>&1 && return 1
    end_reason="the DCV session $session_id was closed"
}
viewers() {
    dcv describe-session "$session_id" --json 2>/dev/null \
        | python3 -c 'import json, sys; print(int(json.load(sys.stdin)["num-of-connections"]))'
}

# Watch the session: end with it, and, with an idle timeout, end it when nobody has been
# connected for that long (the second seed's idle stop).
watch_desktop
