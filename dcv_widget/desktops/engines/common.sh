#!/bin/bash
# dcv_widget desktop job, engine "@ENGINE@". Rendered by dcv_widget/desktops/engines/ and fed to sbatch on
# stdin: this shared prelude, then the engine's own part. Only validated values are substituted.
#
# Files (all under ~/.dcv-widget, folders 0700, files 0600 through umask 077):
#   sessions/<job>.started.json  written as the job starts on its node (node name, no secret)
#   sessions/<job>.json      written once the desktop answers: endpoint + connect secret
#   sessions/<job>.idle.json while nobody is connected to a desktop with an idle timeout: since
#                            when, and when the job ends itself (epoch seconds), no secret
#   sessions/<job>.end.json  the job's last word (why it ended), no secret
#   run/<job>/               private scratch (sockets, password files), removed on exit
# Secrets never reach argv, stdout/stderr or this job's log.
set -uo pipefail
umask 077

launch_id=@LAUNCH_ID@
state_dir="$HOME/.dcv-widget"
sessions="$state_dir/sessions"
work="$state_dir/run/$SLURM_JOB_ID"
session_file="$sessions/$SLURM_JOB_ID.json"
tmp_file="$sessions/.$SLURM_JOB_ID.json.tmp"
end_file="$sessions/$SLURM_JOB_ID.end.json"
started_file="$sessions/$SLURM_JOB_ID.started.json"
idle_file="$sessions/$SLURM_JOB_ID.idle.json"
idle_tmp="$sessions/.$SLURM_JOB_ID.idle.json.tmp"
# The last word: end_cause is one of server-exit, signal, failed, idle; end_reason is for people.
end_cause="server-exit"
end_reason="the desktop server exited"

# The node as Slurm names it (the card shows that name), not its host name.
node_name=${SLURMD_NODENAME:-$(hostname -s)}

log() { printf '%s dcv-widget: %s\n' "$(date +%T)" "$*"; }
fail() { end_cause="failed"; end_reason="$*"; log "ERROR: $*"; exit 1; }
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "${s//$'\n'/ }"; }

# Engines override stop_desktop to close their session cleanly before the processes go.
stop_desktop() { :; }

cleanup() {
    # Ignore further stop signals (a second scancel) so the clean-up always finishes.
    trap '' TERM INT HUP USR1
    trap - EXIT
    rm -f "$session_file" "$tmp_file" "$started_file" "$idle_file" "$idle_tmp"
    stop_desktop
    # Asked once: inside a trap bash's job table lags, and `jobs -pr` keeps listing processes
    # long gone (the loop then always took its whole 5 s); `kill -0` asks the kernel.
    local pids alive pid
    pids=$(jobs -pr)
    kill $pids 2>/dev/null
    for _ in $(seq 25); do
        alive=""
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive+=" $pid"; done
        [[ -z $alive ]] && break
        sleep 0.2
    done
    kill -KILL $alive 2>/dev/null
    rm -rf "$work"
    printf '{"job_id": "%s", "launch": "%s", "cause": "%s", "reason": %s}\n' \
        "$SLURM_JOB_ID" "$launch_id" "$end_cause" "$(json_string "$end_reason")" > "$end_file"
    log "desktop closed: $end_reason"
}
trap cleanup EXIT
# scancel and the time limit send SIGTERM (--signal may send USR1 earlier).
trap 'end_cause=signal end_reason="stopped by Slurm (End, scancel or the time limit)"
      log "stop requested"; exit 0' TERM INT HUP USR1

# require HINT CMD...: fail, saying HINT, unless every CMD is on PATH.
require() {
    local hint=$1 cmd
    shift
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null || fail "$cmd is missing on $node_name; $hint"
    done
}

# require_root_sticky DIR WHAT: fail unless DIR is a folder of root's with mode 1777. A shared
# folder owned by a user lets that user delete or replace everyone else's files in it (sticky
# bits do not hold against the folder's owner).
require_root_sticky() {
    [[ ! -L $1 && $(stat -c '%u %a' "$1" 2>/dev/null) == "0 1777" ]] || fail "$1 (the $2 of \
every user) on $node_name must be a folder owned by root with mode 1777, or other users could \
take over this desktop; ask your admin to run: install -d -m 1777 -o root -g root $1"
}

mkdir -p "$state_dir" "$sessions" "$state_dir/run" "$work" || fail "cannot create $work"
chmod 700 "$state_dir" "$sessions" "$state_dir/run" "$work"
# Files left by an earlier job with this id (killed with SIGKILL, cluster rebuilt) are not ours.
rm -f "$session_file" "$tmp_file" "$end_file" "$idle_file" "$idle_tmp"
# The kernel watches this folder (a listing costs the scheduler nothing) and asks Slurm only when
# a file here says something changed: this one says the job has started on its node.
printf '{"job_id": "%s", "launch": "%s", "node": %s}\n' \
    "$SLURM_JOB_ID" "$launch_id" "$(json_string "$node_name")" > "$started_file"
cd "$HOME" || fail "cannot enter $HOME"
log "job $SLURM_JOB_ID on $node_name: starting the desktop"

# publish_session JSON_FIELDS: announce the ready desktop; the fields follow job_id and launch.
publish_session() {
    printf '{"version": 1, "engine": "@ENGINE@", "job_id": "%s", "launch": "%s", %s}\n' \
        "$SLURM_JOB_ID" "$launch_id" "$1" > "$tmp_file" && mv "$tmp_file" "$session_file"
}

# The idle stop, done by the job itself. The engine's part sets idle_timeout (minutes without a
# connection before the job ends; 0: never), idle_grace (seconds after ready before the idle
# clock starts) and poll_every (seconds between looks), and defines two functions:
#   desktop_gone  true once the desktop has ended by itself (it may set end_reason)
#   viewers       prints how many clients are connected; fails when it cannot tell (in use)

# say_idle LEFT: tell the kernel (a file it lists anyway; it asks the scheduler nothing) that
# nobody is connected and that this job ends itself in LEFT seconds unless someone connects:
# since when and until when, in epoch seconds on this node's clock. Once per idle spell.
say_idle() {
    local now
    printf -v now '%(%s)T' -1
    printf '{"job_id": "%s", "launch": "%s", "since": %d, "ends_at": %d}\n' "$SLURM_JOB_ID" \
        "$launch_id" "$((now + $1 - idle_timeout * 60))" "$((now + $1))" > "$idle_tmp" \
        && mv "$idle_tmp" "$idle_file"
}

# watch_desktop: return when the desktop ends by itself; with an idle timeout, end the job when
# nobody has been connected for that long, on time (the last wait before the deadline is cut to
# it). A sleep loop rather than `wait -n`, which needs bash 5.1: Amazon Linux 2 has 4.2.
watch_desktop() {
    local last_seen=$((SECONDS + idle_grace)) idle_said="" wait_for=$poll_every count left
    while true; do
        sleep "$wait_for" &
        wait $!
        wait_for=$poll_every
        desktop_gone && return 0
        ((idle_timeout > 0)) || continue
        if ! count=$(viewers); then
            log "could not count the desktop's connections; counting it as in use"
            count=1
        fi
        if ((count > 0)); then
            last_seen=$SECONDS
            [[ -n $idle_said ]] && rm -f "$idle_file"
            idle_said=""
            continue
        fi
        left=$((last_seen + idle_timeout * 60 - SECONDS))
        if ((left <= 0)); then
            end_cause=idle
            end_reason="nobody connected for $idle_timeout min"
            log "$end_reason; closing the desktop"
            exit 0
        fi
        [[ -n $idle_said ]] || { say_idle "$left"; idle_said=1; }
        ((left < poll_every)) && wait_for=$left
    done
}

