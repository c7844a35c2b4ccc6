#!/usr/bin/env bash
# The embedded single-node Slurm used by the demo and the test suite.
#
#   scripts/local-slurm.sh start    write the config (if it is ours or absent), start munge,
#                                   slurmctld and slurmd; harmless when already running
#   scripts/local-slurm.sh stop     stop slurmd and slurmctld (munge stays)
#   scripts/local-slurm.sh stop-controller   stop slurmctld only (tests of an unreachable
#                                   scheduler; `start` brings it back)
#   scripts/local-slurm.sh status   exit 0 when the `dcv` partition answers
#
# Needs root (it starts system daemons) and Debian's slurm-wlm + munge (scripts/setup-system.sh).
# It never overwrites a slurm.conf it did not write: on a real cluster it refuses instead.
set -euo pipefail

MARKER="# managed by dcv_widget scripts/local-slurm.sh"
CONF=/etc/slurm/slurm.conf
STATE=/var/lib/dcv-widget-slurm
RUN=/run/dcv-widget-slurm
LOGS=/var/log/dcv-widget-slurm
NODE=dcv-node-1
HOST=$(hostname -s)

die() { echo "local-slurm: $*" >&2; exit 1; }

write_config() {
    if [[ -f $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by dcv_widget; refusing to touch a real cluster's config"
    fi
    mkdir -p "$STATE/ctld" "$STATE/d" "$RUN" "$LOGS"
    chown slurm:slurm "$STATE/ctld" "$LOGS"
    local new
    new=$(cat <<CONFIG
$MARKER
ClusterName=dcvlocal
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue for 5 minutes: the widget reads their end state there.
MinJobAge=300
KillWait=10
# The node advertises 8 CPUs whatever the machine has, so several desktops fit at once.
SlurmdParameters=config_overrides
NodeName=$NODE NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=8 RealMemory=8000 State=UNKNOWN
PartitionName=dcv Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONFIG
)
    if [[ ! -f $CONF ]] || [[ "$(cat "$CONF")" != "$new" ]]; then
        printf '%s\n' "$new" > "$CONF"
        chmod 644 "$CONF"
        RESTART=1
    fi
}

# running PIDFILE NAME: the pid file names a live process that really is NAME (a stale file's
# pid may have been reused by anything after a restart).
running() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]]
}

start_munge() {
    if ! pgrep -x munged >/dev/null; then
        mkdir -p /run/munge && chown munge:munge /run/munge
        runuser -u munge -- /usr/sbin/munged
    fi
}

wait_ready() {
    local state
    for _ in $(seq 60); do
        if scontrol ping 2>/dev/null | grep -q UP; then
            state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null)
            case $state in
                idle* | mix* | alloc*) return 0 ;;
                # A node left DOWN or drained by an earlier unclean stop comes back here.
                down* | drain*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
            esac
        fi
        sleep 0.5
    done
    die "Slurm did not come up; see $LOGS/slurmctld.log and $LOGS/slurmd.log"
}

start() {
    [[ $EUID -eq 0 ]] || die "start needs root (it starts munged, slurmctld and slurmd)"
    RESTART=0
    write_config
    start_munge
    if [[ $RESTART == 1 ]]; then stop_slurm; fi
    running "$RUN/slurmctld.pid" slurmctld || /usr/sbin/slurmctld
    running "$RUN/slurmd.pid" slurmd || /usr/sbin/slurmd
    wait_ready
    echo "local Slurm is up: partition dcv on $NODE"
}

stop_daemon() {
    local pidfile=$1
    if running "$pidfile" "$2"; then
        local pid
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
    fi
}

stop_slurm() {
    stop_daemon "$RUN/slurmd.pid" slurmd
    stop_daemon "$RUN/slurmctld.pid" slurmctld
}

case "${1:-}" in
    start) start ;;
    stop) stop_slurm; echo "local Slurm stopped" ;;
    stop-controller) stop_daemon "$RUN/slurmctld.pid" slurmctld; echo "slurmctld stopped" ;;
    status) scontrol ping | grep -q UP && sinfo -p dcv ;;
    *) die "usage: $0 start|stop|stop-controller|status" ;;
esac
