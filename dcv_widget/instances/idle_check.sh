#!/bin/sh
# dcv-widget idle check (docs/ec2-idle-policy.md). Exits at once when someone is connected to a
# NICE DCV session on this instance; otherwise asks DCV again every checkSeconds, and when nobody
# connected during the whole idle time, shuts the OS down: the instance's EC2 attribute
# InstanceInitiatedShutdownBehavior (set by dcv_widget) then stops or terminates it.
# Anything uncertain (no dcv command, dcv failing) ends the check without a shutdown.
idle_minutes='{{ idleMinutes }}'
idle_seconds='{{ idleSeconds }}'
check_seconds='{{ checkSeconds }}'
if [ -z "$idle_seconds" ]; then idle_seconds=$((idle_minutes * 60)); fi
PATH="$PATH:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
export PATH

if ! command -v dcv >/dev/null 2>&1; then
    echo "no dcv command here: not a DCV server, nothing to do"
    exit 1
fi

# One check at a time on this instance: the window may start a check while another one waits.
lock="${DCV_WIDGET_IDLE_LOCK:-/run/dcv-widget-idle.lock}"
if command -v flock >/dev/null 2>&1; then
    exec 9>>"$lock" || exit 1
    if ! flock -n 9; then
        echo "another idle check is already waiting on this instance"
        exit 0
    fi
fi

ask() {
    if command -v timeout >/dev/null 2>&1; then timeout 60 dcv "$@"; else dcv "$@"; fi
}

# Prints how many DCV sessions have someone connected; fails when DCV cannot be asked.
busy_sessions() {
    sessions=$(ask list-sessions) || return 1
    busy=0
    for id in $(printf '%s\n' "$sessions" | sed -n "s/^Session: '*\([^' ]*\)'* .*/\1/p"); do
        listed=$(ask list-connections -j "$id") || return 1
        case "$listed" in *"{"*) busy=$((busy + 1)) ;; esac
    done
    echo "$busy"
}

busy=$(busy_sessions) || { echo "could not ask DCV for its connections: no shutdown"; exit 1; }
if [ "$busy" -gt 0 ]; then
    echo "$busy DCV session(s) in use: not idle"
    exit 0
fi
start=$(date +%s)
while :; do
    elapsed=$(($(date +%s) - start))
    if [ "$elapsed" -ge "$idle_seconds" ]; then break; fi
    pause=$((idle_seconds - elapsed))
    if [ "$pause" -gt "$check_seconds" ]; then pause=$check_seconds; fi
    sleep "$pause"
    busy=$(busy_sessions) || { echo "could not ask DCV for its connections: no shutdown"; exit 1; }
    if [ "$busy" -gt 0 ]; then
        echo "someone connected to DCV while waiting: not idle"
        exit 0
    fi
done
echo "nobody connected to DCV for $idle_seconds seconds: shutting down in a minute"
if command -v shutdown >/dev/null 2>&1; then
    shutdown -h +1 "dcv-widget: DCV idle, shutting down" || systemctl poweroff
else
    systemctl poweroff
fi
