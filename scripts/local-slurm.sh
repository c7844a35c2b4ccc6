#!/usr/bin/env bash
# The embedded single-node Slurm used by the demo and the test suite.
#
#   scripts/local-slurm.sh start    write the config (if it is ours or absent), start munge,
#                                   slurmctld and slurmd; harmless when already running
#   scripts/local-slurm.sh stop     stop slurmd and slurmctld (munge stays)
#   scripts/local-slurm.sh stop-controller   stop slurmctld only (tests of an unreachable
#                                   scheduler; `start` brings it back)
#   scripts/local-slurm.sh status   exit 0 when the `dcv` partition answers
#   scripts/local-slurm.sh power-up|power-down NODE
#                                   boot or halt a cloud node (Slurm's Resume/SuspendProgram)
#   scripts/local-slurm.sh power-save-now
#                                   ask Slurm to power the idle cloud node down at once (tests)
#
# Partitions: `dcv-maint`, down for maintenance (jobs wait with reason PartitionDown); `dcv`,
# one always-on node (dcv-node-1); and `dcv-cloud`, one cloud-style node
# (dcv-cloud-1) that is powered down until a job needs it, as in AWS ParallelCluster: Slurm calls
# the ResumeProgram, the job waits in CONFIGURING while the node "boots", then runs. The cloud
# node is a second slurmd in its own UTS namespace (its own hostname) on port 6819; this
# Debian build of Slurm cannot run two slurmd under one hostname.
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
CLOUD_NODE=dcv-cloud-1
HOST=$(hostname -s)
SELF=/usr/local/sbin/dcv-widget-local-slurm
RESUME=/usr/local/sbin/dcv-widget-cloud-resume
SUSPEND=/usr/local/sbin/dcv-widget-cloud-suspend
BOOT_SECONDS=${DCV_WIDGET_CLOUD_BOOT_SECONDS:-5}

die() { echo "local-slurm: $*" >&2; exit 1; }

write_config() {
    if [[ -f $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
        die "$CONF exists and was not written by dcv_widget; refusing to touch a real cluster's config"
    fi
    mkdir -p "$STATE/ctld" "$STATE/d-$NODE" "$STATE/d-$CLOUD_NODE" "$RUN" "$LOGS"
    chown slurm:slurm "$STATE/ctld" "$LOGS"
    install_power_programs
    local new
    new=$(cat <<CONFIG
$MARKER
ClusterName=dcvlocal
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d-%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd-%n.log
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
# Jobs that ask (--oversubscribe) may share cores; desktops do not ask. benchmarks/scheduler_load.py
# runs its 50 ready stand-in desktops that way on the 8 CPUs (up to 8 such jobs per core).
PartitionName=dcv Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES:8
# A partition under maintenance: jobs queue with Slurm's reason PartitionDown (demo and tests).
PartitionName=dcv-maint Nodes=$NODE MaxTime=INFINITE State=DOWN
# Power saving for the cloud node only: resumed on demand, halted after 2 idle minutes.
NodeName=$CLOUD_NODE NodeHostname=$CLOUD_NODE NodeAddr=127.0.0.1 Port=6819 CPUs=8 RealMemory=8000 State=CLOUD
PartitionName=dcv-cloud Nodes=$CLOUD_NODE MaxTime=INFINITE State=UP
ResumeProgram=$RESUME
SuspendProgram=$SUSPEND
SuspendTime=120
SuspendExcNodes=$NODE
ResumeTimeout=120
SuspendTimeout=30
# Powered-down cloud nodes stay visible to sinfo, as AWS ParallelCluster configures it.
PrivateData=cloud
CONFIG
)
    if [[ ! -f $CONF ]] || [[ "$(cat "$CONF")" != "$new" ]]; then
        printf '%s\n' "$new" > "$CONF"
        chmod 644 "$CONF"
        RESTART=1
    fi
}

# Slurm runs Resume/SuspendProgram as SlurmUser: they ask sudo to run this script as root.
install_power_programs() {
    [[ $0 -ef $SELF ]] || install -m 0755 "$0" "$SELF"
    printf '#!/bin/sh\nexec sudo -n %s power-up "$1"\n' "$SELF" > "$RESUME"
    printf '#!/bin/sh\nexec sudo -n %s power-down "$1"\n' "$SELF" > "$SUSPEND"
    chmod 0755 "$RESUME" "$SUSPEND"
    echo "slurm ALL=(root) NOPASSWD: $SELF" > /etc/sudoers.d/dcv-widget-slurm
    chmod 0440 /etc/sudoers.d/dcv-widget-slurm
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

# The shared folder of X display sockets, as a node must have it before any desktop starts:
# root's, mode 1777 (sticky). Created by a user's Xvnc instead, that user could delete or replace
# every other user's display socket; desktop jobs refuse to start on a node where it is not so.
provision_x11_sockets() {
    local dir=/tmp/.X11-unix
    [[ -L $dir ]] && rm -f "$dir"
    install -d -m 1777 -o root -g root "$dir"
    chown root:root "$dir" && chmod 1777 "$dir"
}

start() {
    [[ $EUID -eq 0 ]] || die "start needs root (it starts munged, slurmctld and slurmd)"
    RESTART=0
    provision_x11_sockets
    write_config
    start_munge
    if [[ $RESTART == 1 ]]; then stop_slurm; fi
    running "$RUN/slurmctld.pid" slurmctld || /usr/sbin/slurmctld
    running "$RUN/slurmd-$NODE.pid" slurmd || /usr/sbin/slurmd
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
    stop_daemon "$RUN/slurmd-$CLOUD_NODE.pid" slurmd
    stop_daemon "$RUN/slurmd-$NODE.pid" slurmd
    stop_daemon "$RUN/slurmctld.pid" slurmctld
}

# The cloud node "boots" (a pause, as an instance would take minutes), then its slurmd starts
# under the node's own hostname (a UTS namespace) with a fresh boot time (a time namespace:
# slurmctld waits for a node whose boot time is later than its resume request), registers, and
# Slurm runs the waiting job.
power_up() {
    [[ $1 == "$CLOUD_NODE" ]] || die "power-up: unknown cloud node '$1'"
    running "$RUN/slurmd-$CLOUD_NODE.pid" slurmd && return 0
    mkdir -p "$STATE/d-$CLOUD_NODE"
    # shellcheck disable=SC2016 # expanded by the inner bash, after the pause
    setsid bash -c 'sleep "$1"; up=$(cut -d. -f1 /proc/uptime)
        exec unshare --uts --time --boottime "-$((up - 1))" \
            sh -c "hostname $2 && exec /usr/sbin/slurmd"' boot "$BOOT_SECONDS" "$CLOUD_NODE" \
        </dev/null >>"$LOGS/power.log" 2>&1 &
}

power_down() {
    [[ $1 == "$CLOUD_NODE" ]] || die "power-down: unknown cloud node '$1'"
    stop_daemon "$RUN/slurmd-$CLOUD_NODE.pid" slurmd
}

case "${1:-}" in
    start) start ;;
    stop) stop_slurm; echo "local Slurm stopped" ;;
    stop-controller) stop_daemon "$RUN/slurmctld.pid" slurmctld; echo "slurmctld stopped" ;;
    power-up) power_up "${2:-}" ;;
    power-down) power_down "${2:-}" ;;
    power-save-now) scontrol update nodename="$CLOUD_NODE" state=power_down_asap ;;
    status) scontrol ping | grep -q UP && sinfo -p dcv ;;
    *) die "usage: $0 start|stop|stop-controller|status|power-up NODE|power-down NODE|power-save-now" ;;
esac
