#!/usr/bin/env bash
# A one-node SLURM on this machine, for the tests marked `slurm` (tests/slurm/conftest.py)
# and for trying the launch scripts by hand. Debian/Ubuntu packages, no systemd, no
# accounting; every file (config, munge key and socket, state, logs, pid files) lives in
# STATE, so nothing under /etc is touched and `stop` ends exactly the daemons `start` began.
#
#   cluster/ci/slurm.sh install            # apt-get the packages (root; the package registry only)
#   cluster/ci/slurm.sh start STATE        # write STATE/slurm.conf, start munged, slurmctld, slurmd
#   export SLURM_CONF=STATE/slurm.conf     # what sbatch/squeue/scancel then need
#   cluster/ci/slurm.sh stop STATE         # stop the three daemons by their pid files
#
# The node is sized by what `slurmd -C` reports (CPUs, RealMemory), never by a fixed figure.
# Exit status: 0 done, 1 a daemon did not come up (its log is printed), 3 packages missing
# and not installable (the tests skip on 3 only, naming this reason).
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)
WAIT_S=${NEURALBENCH_SLURM_WAIT_S:-60}

die() { echo "slurm.sh: $*" >&2; exit "${2:-1}"; }

have_packages() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
                  && command -v sbatch >/dev/null && command -v munged >/dev/null; }

install() {
    have_packages && return 0
    command -v apt-get >/dev/null || die "no apt-get: install ${PACKAGES[*]} by hand" 3
    [ "$(id -u)" = 0 ] || die "installing ${PACKAGES[*]} needs root" 3
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } \
        >&2 || die "apt-get could not install ${PACKAGES[*]}" 3
    have_packages || die "${PACKAGES[*]} installed but a daemon is missing" 3
}

# wait_for DESCRIPTION LOG COMMAND...: retry COMMAND for WAIT_S seconds, else show LOG and fail
wait_for() {
    local what=$1 log=$2; shift 2
    local deadline=$((SECONDS + WAIT_S))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "slurm.sh: $what did not happen within ${WAIT_S}s; last lines of $log:" >&2
            tail -n 20 "$log" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
}

write_conf() {
    local state=$1 node cpus mem
    node=$(slurmd -C | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')
    cpus=$(slurmd -C | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p')
    mem=$(slurmd -C | sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p')
    [ -n "$node" ] && [ -n "$cpus" ] && [ -n "$mem" ] || die "cannot read the node size from slurmd -C"
    cat > "$state/slurm.conf" <<CONF
# written by cluster/ci/slurm.sh: one node, sized by \`slurmd -C\`
ClusterName=neuralbench
SlurmctldHost=$node
SlurmUser=root
SlurmctldPort=${NEURALBENCH_SLURMCTLD_PORT:-6817}
SlurmdPort=${NEURALBENCH_SLURMD_PORT:-6818}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge.socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
KillWait=10
MinJobAge=60
SlurmdTimeout=60
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    local state=${1:?usage: slurm.sh start STATE}
    have_packages || die "${PACKAGES[*]} are not installed (run: slurm.sh install)" 3
    mkdir -p "$state/ctld" "$state/spool" "$state/munge"
    state=$(cd "$state" && pwd)
    [ -f "$state/slurm.conf" ] || write_conf "$state"
    export SLURM_CONF=$state/slurm.conf
    if ! running "$state/munged.pid"; then
        [ -f "$state/munge.key" ] || { dd if=/dev/urandom of="$state/munge.key" bs=1 count=1024 status=none
                                       chmod 400 "$state/munge.key"; }
        munged --force --key-file="$state/munge.key" --socket="$state/munge.socket" \
            --pid-file="$state/munged.pid" --log-file="$state/munged.log" \
            --seed-file="$state/munge/seed"
        wait_for "munged answering on $state/munge.socket" "$state/munged.log" \
            bash -c "munge -n -S '$state/munge.socket' | unmunge -S '$state/munge.socket'"
    fi
    running "$state/slurmctld.pid" || slurmctld -f "$SLURM_CONF"
    wait_for "slurmctld answering" "$state/slurmctld.log" scontrol ping
    running "$state/slurmd.pid" || slurmd -f "$SLURM_CONF"
    wait_for "the node becoming idle" "$state/slurmd.log" \
        bash -c "sinfo -h -o %t | grep -qx idle"
    echo "SLURM_CONF=$SLURM_CONF"
}

stop() {
    local state=${1:?usage: slurm.sh stop STATE} name pid
    for name in slurmd slurmctld munged; do   # the reverse of the start order
        running "$state/$name.pid" || continue
        pid=$(cat "$state/$name.pid")
        kill "$pid"
        for _ in $(seq 1 $((WAIT_S * 2))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && { echo "slurm.sh: $name ($pid) did not stop; killing it" >&2
                                        kill -9 "$pid"; }
    done
    return 0
}

case "${1:-}" in
    install) install ;;
    start) start "${2:-}" ;;
    stop) stop "${2:-}" ;;
    *) die "usage: slurm.sh install | start STATE | stop STATE" 2 ;;
esac
