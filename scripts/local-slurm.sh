#!/usr/bin/env bash
# The embedded single-node Slurm used by the demo and the test suite.
#
#   scripts/local-slurm.sh start    write the config (if it is ours or absent), start munge,
#                                   MariaDB, slurmdbd, slurmctld and slurmd, fill the accounting
#                                   database and make the reservation; harmless when running
#   scripts/local-slurm.sh stop     stop slurmd, slurmctld, slurmdbd and MariaDB (munge stays)
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
# Accounting is real (docs/development.md, "Test set-up"): slurmdbd on MariaDB (started without
# systemd, on its socket only), AccountingStorageEnforce=associations,limits,qos, accounts
# `dcv-users` (everybody's default) and `class101` (dcvtest, its coordinator, and the students),
# QOS `normal`, `desktop` (MaxWall 4 h), `class` (class101 only) and `priority` (nobody's), the
# operator `dcvoperator`, node features, a typed GRES (gpu:t4, gpu:a10g, stand-in devices) and the
# class reservation `dcv-class` (one core of dcv-node-1, which advertises 9 CPUs for it).
#
# Needs root (it starts system daemons) and Debian's slurm-wlm, slurmdbd, mariadb-server + munge
# (scripts/setup-system.sh). It never overwrites a slurm.conf, slurmdbd.conf or gres.conf it did
# not write: on a real cluster it refuses instead.
set -euo pipefail

MARKER="# managed by dcv_widget scripts/local-slurm.sh"
CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
GRES_CONF=/etc/slurm/gres.conf
# slurmdbd's port: its default (6819) is the cloud node's slurmd here.
DBD_PORT=6830
DB=slurm_acct_db
MYSQL_SOCKET=/run/mysqld/mysqld.sock
# The class reservation: one core of dcv-node-1 for the class101 account's users below.
RESERVATION=dcv-class
CLASS_ACCOUNT=class101
CLASS_USERS=(dcvtest dcvdemo dcvstudent1 dcvstudent2)
COORDINATOR=dcvtest
OPERATOR=dcvoperator
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

# ours FILE: dies unless FILE is absent or was written by this script.
ours() {
    if [[ -f $1 ]] && ! grep -qF "$MARKER" "$1"; then
        die "$1 exists and was not written by dcv_widget; refusing to touch a real cluster's config"
    fi
}

# write_managed FILE MODE OWNER CONTENT: writes FILE when it differs; status 0 when it did.
write_managed() {
    if [[ -f $1 ]] && [[ "$(cat "$1")" == "$4" ]]; then return 1; fi
    (umask 077 && printf '%s\n' "$4" > "$1")
    chown "$3" "$1"
    chmod "$2" "$1"
}

write_config() {
    ours "$CONF"
    ours "$DBD_CONF"
    ours "$GRES_CONF"
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
# Accounting through slurmdbd (below); every job needs an association, QOS are enforced, with
# their limits. Jobs' memory and CPU use are sampled (sacct's MaxRSS). Nothing kills a job over
# its --mem: memory is no consumable resource here (CR_Core) and there are no cgroups.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStorageEnforce=associations,limits,qos
AccountingStorageTRES=gres/gpu
# A typed GPU GRES on stand-in devices (gres.conf): sinfo lists it, --gpus=t4:1 runs.
GresTypes=gpu
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue for 5 minutes, as on most clusters: the widget reads their
# end state there, and from sacct once they have left it (tests call that path directly).
MinJobAge=300
KillWait=10
# The node advertises 9 CPUs whatever the machine has, so several desktops fit at once: 8 for
# everybody and 1 core held by the class reservation $RESERVATION. Two fake T4 GPUs.
SlurmdParameters=config_overrides
NodeName=$NODE NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=9 RealMemory=8000 Features=x11,avx2 Gres=gpu:t4:2 State=UNKNOWN
# Jobs that ask (--oversubscribe) may share cores; desktops do not ask. benchmarks/scheduler_load.py
# runs its 50 ready stand-in desktops that way on the 8 CPUs (up to 8 such jobs per core).
PartitionName=dcv Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES:8
# A partition under maintenance: jobs queue with Slurm's reason PartitionDown (demo and tests).
PartitionName=dcv-maint Nodes=$NODE MaxTime=INFINITE State=DOWN
# Power saving for the cloud node only: resumed on demand, halted after 2 idle minutes.
NodeName=$CLOUD_NODE NodeHostname=$CLOUD_NODE NodeAddr=127.0.0.1 Port=6819 CPUs=8 RealMemory=8000 Features=cloud Gres=gpu:a10g:1 State=CLOUD
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
    write_managed "$CONF" 644 root:root "$new" && RESTART=1
    # Slurm counts a GPU only with a device file (it discards config-only GPUs): stand-ins, each
    # a character device like /dev/null, which nothing opens (TaskPlugin=task/none constrains
    # no device). Their numbers are what jobs get in CUDA_VISIBLE_DEVICES.
    install -d -m 0755 "$STATE/fake-gpus"
    local device
    for device in t4-0 t4-1 a10g-0; do
        [[ -c $STATE/fake-gpus/$device ]] || mknod -m 0600 "$STATE/fake-gpus/$device" c 1 3
    done
    new=$(cat <<GRES
$MARKER
NodeName=$NODE Name=gpu Type=t4 File=$STATE/fake-gpus/t4-[0-1]
NodeName=$CLOUD_NODE Name=gpu Type=a10g File=$STATE/fake-gpus/a10g-0
GRES
)
    write_managed "$GRES_CONF" 644 root:root "$new" && RESTART=1
    # MariaDB lets the slurm user in by its unix socket's peer (unix_socket): no password.
    new=$(cat <<DBD
$MARKER
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=slurm
PidFile=$RUN/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=$DB
DBD
)
    write_managed "$DBD_CONF" 600 slurm:slurm "$new" && DBD_RESTART=1
    return 0
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
                # resv: idle, one core held by the class reservation.
                idle* | mix* | alloc* | resv*) return 0 ;;
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

# MariaDB without systemd: its own daemon as the mysql user, on its unix socket only (no TCP
# port at all). Debian's package initialised the data folder; a machine where it was removed gets
# a new one. A MariaDB that already answers (an init script started it) is used as it is.
start_mariadb() {
    mariadb-admin --socket="$MYSQL_SOCKET" ping >/dev/null 2>&1 && return 0
    install -d -o mysql -g mysql /run/mysqld
    [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql >/dev/null
    [[ -f $LOGS/mariadb.log ]] || install -m 0640 -o mysql -g mysql /dev/null "$LOGS/mariadb.log"
    # slurmdbd's lock wait; its "not recommended" buffer pool (it wants GBs) is not needed here.
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking --socket="$MYSQL_SOCKET" \
        --innodb-lock-wait-timeout=900 --log-error="$LOGS/mariadb.log" </dev/null >/dev/null 2>&1 &
    for _ in $(seq 120); do
        mariadb-admin --socket="$MYSQL_SOCKET" ping >/dev/null 2>&1 && break
        sleep 0.25
    done
    mariadb-admin --socket="$MYSQL_SOCKET" ping >/dev/null 2>&1 ||
        die "MariaDB did not come up; see $LOGS/mariadb.log"
    # The accounting database, and the slurm user let in by its unix identity (no password).
    mariadb --socket="$MYSQL_SOCKET" -e "CREATE DATABASE IF NOT EXISTS $DB;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
        GRANT ALL ON $DB.* TO 'slurm'@'localhost';"
}

start_slurmdbd() {
    [[ $DBD_RESTART == 1 ]] && stop_daemon "$RUN/slurmdbd.pid" slurmdbd
    running "$RUN/slurmdbd.pid" slurmdbd || /usr/sbin/slurmdbd
    for _ in $(seq 80); do
        sacctmgr -n show cluster format=cluster >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    die "slurmdbd did not come up; see $LOGS/slurmdbd.log"
}

# sacctmgr_rows ENTITY FIELDS…: sacctmgr's rows (parsable, no header), for what exists already.
sacctmgr_rows() { sacctmgr -nP show "$@"; }

# The accounting database's content, each item added only when missing (sacctmgr refuses to add
# what exists). Every local user (slurm, and every login account: uid 1000-59999) gets an
# association with dcv-users, their default (root has the root account's, which Slurm makes): with
# AccountingStorageEnforce=associations a user without one cannot submit. A user created later
# needs `start` again.
fill_accounting() {
    local have
    sacctmgr_rows cluster format=cluster | grep -qx dcvlocal || sacctmgr -i add cluster dcvlocal >/dev/null
    have=$(sacctmgr_rows qos format=name)
    grep -qx desktop <<<"$have" || sacctmgr -i add qos desktop MaxWall=4:00:00 >/dev/null
    grep -qx class <<<"$have" || sacctmgr -i add qos class MaxWall=8:00:00 >/dev/null
    # Exists, and no association may use it: a request for it is refused (tests).
    grep -qx priority <<<"$have" || sacctmgr -i add qos priority Priority=100 >/dev/null
    have=$(sacctmgr_rows account format=account)
    grep -qx dcv-users <<<"$have" ||
        sacctmgr -i add account dcv-users Description="dcv_widget users" Organization=dcv >/dev/null
    grep -qx "$CLASS_ACCOUNT" <<<"$have" ||
        sacctmgr -i add account "$CLASS_ACCOUNT" Description="a class" Organization=dcv >/dev/null
    # The accounts' QOS (their users inherit them); sacctmgr lists QOS names sorted.
    have=$(sacctmgr_rows assoc format=account,user,qos,defaultqos)
    local account
    for account in dcv-users root; do
        grep -qx "$account||desktop,normal|normal" <<<"$have" ||
            sacctmgr -i modify account where name="$account" set qos=normal,desktop defaultqos=normal >/dev/null
    done
    grep -qx "$CLASS_ACCOUNT||class,desktop,normal|normal" <<<"$have" ||
        sacctmgr -i modify account where name="$CLASS_ACCOUNT" set qos=normal,desktop,class defaultqos=normal >/dev/null
    local users=(slurm) user
    mapfile -t -O 1 users < <(getent passwd | awk -F: '$3 >= 1000 && $3 < 60000 { print $1 }')
    have=$(sacctmgr_rows assoc format=account,user)
    for user in "${users[@]}"; do
        grep -qx "dcv-users|$user" <<<"$have" ||
            sacctmgr -i add user "$user" account=dcv-users defaultaccount=dcv-users >/dev/null
    done
    for user in "${CLASS_USERS[@]}"; do
        id "$user" >/dev/null 2>&1 || continue
        grep -qx "$CLASS_ACCOUNT|$user" <<<"$have" ||
            sacctmgr -i add user "$user" account="$CLASS_ACCOUNT" >/dev/null
    done
    if id "$COORDINATOR" >/dev/null 2>&1; then
        sacctmgr_rows account "$CLASS_ACCOUNT" withcoord format=coordinators | grep -qw "$COORDINATOR" ||
            sacctmgr -i add coordinator account="$CLASS_ACCOUNT" names="$COORDINATOR" >/dev/null
    fi
    if id "$OPERATOR" >/dev/null 2>&1; then
        sacctmgr_rows user "$OPERATOR" format=adminlevel | grep -qx Operator ||
            sacctmgr -i modify user "$OPERATOR" set adminlevel=Operator >/dev/null
    fi
}

# The class reservation: one core of dcv-node-1 for a year, made again when missing or expired;
# its users those of CLASS_USERS that exist (demo.sh creates dcvdemo after a test run's start).
ensure_reservation() {
    local users=() user shown list
    for user in "${CLASS_USERS[@]}"; do id "$user" >/dev/null 2>&1 && users+=("$user"); done
    list=$(IFS=,; echo "${users[*]}")
    if shown=$(scontrol --oneliner show reservation "$RESERVATION" 2>/dev/null); then
        [[ " $shown " == *" Users=$list "* ]] ||
            scontrol update ReservationName="$RESERVATION" Users="$list" >/dev/null
        return 0
    fi
    # Refused ("Requested nodes are busy") while the node still registers after a restart.
    for _ in $(seq 40); do
        scontrol create reservation ReservationName="$RESERVATION" StartTime=now \
            Duration=365-00:00:00 Nodes="$NODE" CoreCnt=1 Accounts="$CLASS_ACCOUNT" \
            Users="$list" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    die "could not create the reservation $RESERVATION; see $LOGS/slurmctld.log"
}

start() {
    [[ $EUID -eq 0 ]] || die "start needs root (it starts munged, MariaDB, slurmdbd, slurmctld and slurmd)"
    RESTART=0
    DBD_RESTART=0
    provision_x11_sockets
    write_config
    start_munge
    start_mariadb
    start_slurmdbd
    fill_accounting
    if [[ $RESTART == 1 ]]; then stop_slurm; fi
    running "$RUN/slurmctld.pid" slurmctld || /usr/sbin/slurmctld
    running "$RUN/slurmd-$NODE.pid" slurmd || /usr/sbin/slurmd
    wait_ready
    ensure_reservation
    echo "local Slurm is up: partition dcv on $NODE, accounting in slurmdbd"
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

stop_accounting() {
    stop_daemon "$RUN/slurmdbd.pid" slurmdbd
    stop_daemon /run/mysqld/mysqld.pid mariadbd
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
    stop) stop_slurm; stop_accounting; echo "local Slurm stopped" ;;
    stop-controller) stop_daemon "$RUN/slurmctld.pid" slurmctld; echo "slurmctld stopped" ;;
    power-up) power_up "${2:-}" ;;
    power-down) power_down "${2:-}" ;;
    power-save-now) scontrol update nodename="$CLOUD_NODE" state=power_down_asap ;;
    status) scontrol ping | grep -q UP && sinfo -p dcv ;;
    *) die "usage: $0 start|stop|stop-controller|status|power-up NODE|power-down NODE|power-save-now" ;;
esac
