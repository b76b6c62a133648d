#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying and testing scripts/slurm/ without a real
# cluster: munged, slurmctld and slurmd started as plain daemons (no systemd needed), all as
# root, with one partition `debug` holding this host. Needs root and the packages of
# scripts/slurm/install.sh.
#
#   scripts/slurm/cluster.sh up       # start it (does nothing when it is already up and healthy)
#   scripts/slurm/cluster.sh status   # daemons, node and queue; exit 0 only when healthy
#   scripts/slurm/cluster.sh down     # stop the daemons
#
# The configuration goes to Debian's default place, /etc/slurm/slurm.conf, so that plain
# `sbatch`, `squeue`, `sinfo`, `scontrol` find it without SLURM_CONF. A slurm.conf there that
# this script did not write (no "written by lvmkit" line) is left alone and `up` fails, unless
# FORCE=1. Made for containers and CI: SlurmUser=root and SlurmdUser=root,
# ProctrackType=proctrack/linuxproc and TaskPlugin=task/none (no cgroups), no accounting.
#
# Knobs (environment): PARTITION (default debug), UP_TIMEOUT seconds to wait for the node
# (default 60), FORCE=1 to replace a foreign slurm.conf.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

conf=/etc/slurm/slurm.conf
marker="# written by lvmkit scripts/slurm/cluster.sh"
state_dir=/var/lib/slurm/lvmkit/slurmctld
spool_dir=/var/lib/slurm/lvmkit/slurmd
log_dir=/var/log/slurm
run_dir=/run/slurm
ctld_log="$log_dir/slurmctld.log"
slurmd_log="$log_dir/slurmd.log"
ctld_pid="$run_dir/slurmctld.pid"
slurmd_pid="$run_dir/slurmd.pid"
munge_key=/etc/munge/munge.key
munge_run=/run/munge
munge_pid="$munge_run/munged.pid"
munge_log=/var/log/munge/munged.log
partition="${PARTITION:-debug}"
up_timeout="${UP_TIMEOUT:-60}"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

# The tails of the daemons' logs, for a failure message.
show_logs() {
  local f
  for f in "$ctld_log" "$slurmd_log" "$munge_log"; do
    if [ -s "$f" ]; then
      echo "--- last lines of $f" >&2
      tail -n 25 "$f" >&2
    fi
  done
}

fail() {
  echo "cluster.sh: $*" >&2
  show_logs
  exit 1
}

host_name() {
  hostname -s 2>/dev/null || uname -n | cut -d. -f1
}

# The process id in pid file $1 when that process is alive, else nothing (and status 1).
alive() {
  local pid
  [ -r "$1" ] || return 1
  pid="$(tr -dc '0-9' <"$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # A daemon killed but not yet reaped (a zombie) is not alive.
  [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ] || return 1
  echo "$pid"
}

munge_ok() {
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

# The node's state as sinfo prints it (idle, mixed, allocated, down*, drained, ...).
node_state() {
  timeout 10 sinfo -h -N -n "$1" -o %T 2>/dev/null | head -n 1
}

healthy_state() {
  case "$1" in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
  esac
}

# The slurm.conf for this machine, on stdout.
config() {
  local host="$1" cpus mem_kib mem_mib
  cpus="$(nproc)"
  mem_kib="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
  # A bit under the total: a node with less memory than RealMemory says is drained.
  mem_mib=$((mem_kib * 90 / 100 / 1024))
  cat <<EOF
$marker: a one-node cluster for tests.
# Rewritten by \`cluster.sh up\` when this machine changes; edit the script, not this file.
ClusterName=lvmkit
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$state_dir
SlurmdSpoolDir=$spool_dir
SlurmctldPidFile=$ctld_pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$ctld_log
SlurmdLogFile=$slurmd_log
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$host CPUs=$cpus RealMemory=$mem_mib State=UNKNOWN
PartitionName=$partition Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

# Stop the daemon of pid file $1 (named $2), waiting up to 15 s for it to exit.
stop_daemon() {
  local pid
  pid="$(alive "$1")" || return 0
  echo "stopping $2 (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  echo "$2 (pid $pid) did not stop on SIGTERM; sending SIGKILL"
  kill -9 "$pid" 2>/dev/null || true
}

start_munge() {
  if munge_ok; then
    return 0
  fi
  if [ ! -s "$munge_key" ]; then
    echo "creating $munge_key"
    mkdir -p "$(dirname "$munge_key")"
    if command -v mungekey >/dev/null 2>&1; then
      mungekey --create --keyfile="$munge_key" --force
    else
      dd if=/dev/urandom of="$munge_key" bs=1 count=1024 status=none
    fi
  fi
  # munged refuses a key or folders others can read or write.
  chown munge:munge "$munge_key" "$(dirname "$munge_key")"
  chmod 0400 "$munge_key"
  chmod 0700 "$(dirname "$munge_key")"
  mkdir -p "$munge_run" /var/log/munge /var/lib/munge
  chown munge:munge "$munge_run" /var/log/munge /var/lib/munge
  chmod 0755 "$munge_run"
  stop_daemon "$munge_pid" munged
  echo "starting munged"
  if command -v runuser >/dev/null 2>&1; then
    runuser -u munge -- munged 9>&- || fail "munged did not start"
  else
    su -s /bin/sh munge -c munged 9>&- || fail "munged did not start"
  fi
  for _ in $(seq 1 20); do
    munge_ok && return 0
    sleep 0.5
  done
  fail "munged is running but \`munge -n | unmunge\` fails"
}

# Wait up to 10 s for a daemon that just forked to write pid file $1 (named $2).
wait_pid() {
  for _ in $(seq 1 20); do
    alive "$1" >/dev/null && return 0
    sleep 0.5
  done
  fail "$2 did not start (no live process in $1)"
}

up() {
  [ "$(id -u)" -eq 0 ] || die "up needs root (the daemons run as root)"
  local c
  for c in slurmctld slurmd sinfo srun scontrol munged munge unmunge; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found: run scripts/slurm/install.sh first"
  done
  local host wanted changed=0
  host="$(host_name)"
  [ -n "$host" ] || die "cannot tell this machine's host name"
  wanted="$(config "$host")"

  if [ -e "$conf" ] && ! grep -qF "$marker" "$conf" && [ "${FORCE:-0}" != 1 ]; then
    die "$conf exists and was not written by this script: it may be a real cluster's. Move it away, or run with FORCE=1 to replace it"
  fi
  if [ ! -e "$conf" ] || [ "$(cat "$conf")" != "$wanted" ]; then
    changed=1
  fi

  # Already up and healthy with this configuration: nothing to do.
  if [ "$changed" -eq 0 ] && munge_ok && alive "$ctld_pid" >/dev/null && alive "$slurmd_pid" >/dev/null &&
    healthy_state "$(node_state "$host")"; then
    echo "slurm is already up: node $host is $(node_state "$host")"
    return 0
  fi

  # slurmctld and slurmd resolve the host names of slurm.conf.
  if ! getent hosts "$host" >/dev/null; then
    echo "adding $host to /etc/hosts"
    echo "127.0.0.1 $host" >>/etc/hosts
  fi

  start_munge

  if [ "$changed" -eq 1 ]; then
    echo "writing $conf"
    # A new configuration: restart the daemons on it.
    stop_daemon "$slurmd_pid" slurmd
    stop_daemon "$ctld_pid" slurmctld
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' "$wanted" >"$conf.tmp"
    mv "$conf.tmp" "$conf"
    chmod 0644 "$conf"
  fi
  mkdir -p "$state_dir" "$spool_dir" "$log_dir" "$run_dir"

  if ! alive "$ctld_pid" >/dev/null; then
    echo "starting slurmctld"
    rm -f "$ctld_pid"
    slurmctld 9>&- || fail "slurmctld did not start"
    wait_pid "$ctld_pid" slurmctld
  fi
  if ! alive "$slurmd_pid" >/dev/null; then
    echo "starting slurmd"
    rm -f "$slurmd_pid"
    slurmd -N "$host" 9>&- || fail "slurmd did not start"
    wait_pid "$slurmd_pid" slurmd
  fi

  local deadline state=""
  deadline=$((SECONDS + up_timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    alive "$ctld_pid" >/dev/null || fail "slurmctld exited"
    alive "$slurmd_pid" >/dev/null || fail "slurmd exited"
    state="$(node_state "$host")"
    healthy_state "$state" && break
    # A node that was marked down (say, by an earlier run that stopped abruptly) and has
    # registered again: ReturnToService=2 brings it back, or this does.
    case "$state" in
      down* | drain* | fail*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 1
  done
  if ! healthy_state "$state"; then
    sinfo -R >&2 2>/dev/null || true
    fail "node $host is not up after ${up_timeout}s (state: ${state:-unknown})"
  fi

  echo "checking that a job runs"
  local out
  if ! out="$(timeout 60 srun -N1 -n1 -p "$partition" -t 1 true 2>&1)"; then
    echo "$out" >&2
    fail "\`srun -N1 true\` failed"
  fi
  echo "slurm is up: partition $partition, node $host ($(nproc) CPUs), configuration $conf"
}

down() {
  [ "$(id -u)" -eq 0 ] || die "down needs root"
  stop_daemon "$slurmd_pid" slurmd
  stop_daemon "$ctld_pid" slurmctld
  stop_daemon "$munge_pid" munged
  echo "slurm is down"
}

status() {
  local host pid ok=0 state
  host="$(host_name)"
  if munge_ok; then echo "munged: running"; else
    echo "munged: not working"
    ok=1
  fi
  if pid="$(alive "$ctld_pid")"; then echo "slurmctld: running (pid $pid)"; else
    echo "slurmctld: not running"
    ok=1
  fi
  if pid="$(alive "$slurmd_pid")"; then echo "slurmd: running (pid $pid)"; else
    echo "slurmd: not running"
    ok=1
  fi
  if [ "$ok" -eq 0 ]; then
    state="$(node_state "$host")"
    echo "node $host: ${state:-unknown}"
    healthy_state "$state" || ok=1
    sinfo 2>/dev/null || true
    squeue 2>/dev/null || true
  fi
  return "$ok"
}

# One `up` or `down` at a time (say, two test binaries starting the cluster together).
lock() {
  mkdir -p "$run_dir"
  # The daemons started below must not inherit this descriptor (9>&-), or they hold the lock.
  exec 9>"$run_dir/cluster.lock"
  flock -w 120 9 || die "another cluster.sh holds $run_dir/cluster.lock"
}

case "${1:-}" in
  up)
    lock
    up
    ;;
  down)
    lock
    down
    ;;
  status) status ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
