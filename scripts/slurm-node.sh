#!/usr/bin/env bash
# slurm-node.sh — a REAL single-node SLURM cluster from Debian 12's packages, for tests.
#
# Used by tests/slurm (session fixture: `up` before, `down` after) and benchmarks/bench_slurm.py;
# docs/slurm.md says what it sets up and why. Adapted for Kinetic's tests from a verified
# recipe: 4 CPUs advertised by default, backfill every second and a default time limit (so
# jobs run beside one waiting for the GPU), and a `short` partition (MaxTime=1 min) where
# SLURM's own TIMEOUT can be reached.
#
#   slurm-node.sh up      install (if needed) + write config + start munged, [mariadbd,
#                         slurmdbd,] slurmctld, slurmd
#   slurm-node.sh smoke   end-to-end checks (sbatch/squeue/scontrol/sacct/scancel/...), ~100 s
#                         (SLURM_SMOKE_QUICK=1: skip the >=60 s TIMEOUT check, ~33 s)
#   slurm-node.sh down    stop ONLY the daemons this script started, by recorded PID
#   slurm-node.sh status  pids, RSS, sinfo
#
# Idempotent: `up` twice is a no-op if everything is alive; `down` twice is a no-op.
# Needs root (slurmd must setuid to the job's user). No systemd needed: every daemon is
# started by hand and its PID recorded under $RUN; `down` signals only those PIDs, after
# checking /proc/PID/comm still names the daemon.
# Network: loopback only — CommunicationParameters=NoCtldInAddrAny,NoInAddrAny makes
# slurmctld/slurmd bind 127.0.0.1 instead of 0.0.0.0; slurmdbd/mariadbd bind 127.0.0.1 too.
#
# Env knobs:
#   SLURM_NODE_DIR   state/log/pid dir          (default /var/lib/slurm-node)
#   SLURM_NODE_MODE  cgroup | linuxproc         (default: cgroup if a writable cgroup-v1
#                    memory hierarchy exists; linuxproc = no cgroups, RSS polling)
#   SLURM_NODE_CPUS  CPUs advertised            (default max(nproc, 4); may exceed nproc: config_overrides)
#   SLURM_NODE_MEM   RealMemory in MB           (default 4000; keep below real RAM)
#   SLURM_NODE_ACCT  none | db                  (default none. db = MariaDB + slurmdbd so that
#                    `sacct` works; with none, sacct says "Slurm accounting storage is disabled")
#   SLURM_NODE_CLEAN=1  start slurmctld with -c (forget all previous jobs)
#   SLURM_NODE_WARMUP=0 skip the throwaway first job `up` runs (see cmd_up)
#
# Config goes to /etc/slurm/slurm.conf (the compiled-in default path), so plain `sbatch`,
# `squeue`, `sacct`, `scontrol`, `scancel` work for any local user with no env vars.
set -euo pipefail

DIR=${SLURM_NODE_DIR:-/var/lib/slurm-node}
RUN=$DIR/run
LOG=$DIR/log
ETC=/etc/slurm
CONF=$ETC/slurm.conf
MEM=${SLURM_NODE_MEM:-4000}
CPUS=${SLURM_NODE_CPUS:-$(( $(nproc) > 4 ? $(nproc) : 4 ))}
ACCT=${SLURM_NODE_ACCT:-none}
DB_PASS=slurmtest         # throwaway password of the loopback-only MariaDB user 'slurm'
NODE=localhost            # slurmd is started with -N localhost, so the hostname doesn't matter

log() { printf '[slurm-node %s] %s\n' "$(date +%T)" "$*" >&2; }

# ---- pid helpers: a pid is "ours" only if recorded by us AND its comm still matches ------
# PID 1 here is not an init that reaps promptly, so a zombie counts as stopped.
is_zombie() { [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
gone() { [[ ! -d /proc/$1 ]] || is_zombie "$1"; }
pid_alive() {  # $1 = daemon name = its /proc comm (munged|mariadbd|slurmdbd|slurmctld|slurmd)
  local f=$RUN/$1.pid p
  [[ -s $f ]] || return 1
  p=$(<"$f")
  [[ -d /proc/$p && $(cat "/proc/$p/comm" 2>/dev/null) == "$1" ]] && ! is_zombie "$p"
}
stop_pid() {   # $1 = name; SIGTERM, wait up to 15 s, then SIGKILL — only our recorded pid
  local f=$RUN/$1.pid p
  if ! pid_alive "$1"; then rm -f "$f"; return 0; fi
  p=$(<"$f")
  log "stopping $1 (pid $p)"
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 150); do gone "$p" && break; sleep 0.1; done
  if ! gone "$p"; then log "$1 ignored SIGTERM for 15 s: SIGKILL"; kill -KILL "$p" || true; fi
  rm -f "$f"
}

# ---- install -------------------------------------------------------------------------
# Debian's postinst scripts try to start the services; with no systemd/policy-rc.d they
# print "invoke-rc.d: policy-rc.d denied execution of start." and start nothing. Good.
install_pkgs() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v sbatch >/dev/null && command -v munged >/dev/null; then return 0; fi
  log "installing slurm-wlm + munge (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
}
install_db_pkgs() {
  if command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; then return 0; fi
  log "installing slurmdbd + mariadb-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends slurmdbd mariadb-server >/dev/null
}

# ---- cgroup detection: Slurm 22.05 has cgroup/v1 and cgroup/v2; this VM mounts v1 --------
pick_mode() {
  if [[ -n ${SLURM_NODE_MODE:-} ]]; then echo "$SLURM_NODE_MODE"; return; fi
  if [[ -d /sys/fs/cgroup/memory && -w /sys/fs/cgroup/memory && -d /sys/fs/cgroup/freezer ]]; then
    echo cgroup
  else
    echo linuxproc
  fi
}

write_config() {
  local mode=$1 proctrack task jag extra_jag acct
  mkdir -p "$ETC" "$RUN" "$LOG" "$DIR/ctld" "$DIR/spool"
  if [[ $mode == cgroup ]]; then
    proctrack=proctrack/cgroup; task=task/cgroup,task/affinity
    jag=jobacct_gather/cgroup;  extra_jag=""
  else
    # No cgroups: memory is enforced by polling RSS every JobAcctGatherFrequency seconds.
    proctrack=proctrack/linuxproc; task=task/affinity
    jag=jobacct_gather/linux;   extra_jag="JobAcctGatherParams=OverMemoryKill"
  fi
  acct="AccountingStorageType=accounting_storage/none"
  if [[ $ACCT == db ]]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
  fi
  cat >"$CONF.new" <<EOF
# Written by slurm-node.sh (mode=$mode acct=$ACCT). Single node on loopback.
ClusterName=local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
ProctrackType=$proctrack
TaskPlugin=$task
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# bf_interval=1: backfill every second, so short jobs start beside one waiting for the GPU
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
ReturnToService=2
# Trust CPUs= below even if the box has fewer (lets sleep-heavy tests run in parallel)
SlurmdParameters=config_overrides
# Without a default, a job with no --mem gets the WHOLE node's memory => one job at a time
DefMemPerCPU=256
# scancel/timeout: SIGCONT+SIGTERM, then SIGKILL after KillWait seconds
KillWait=5
# Finished jobs stay visible to squeue/scontrol for MinJobAge seconds (no sacct needed)
MinJobAge=600
InactiveLimit=0
# Accounting. jobcomp/filetxt appends one line per finished job whatever acct is.
$acct
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
JobAcctGatherType=$jag
JobAcctGatherFrequency=1
$extra_jag
# One fake GPU (gres.conf points it at /dev/null)
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:1 State=UNKNOWN
# DefaultTime: backfill can only plan around jobs with a time limit
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE DefaultTime=30 State=UP
# Jobs here reach SLURM's TIMEOUT after 1 minute (checked every ~30 s): the slow test's
PartitionName=short Nodes=ALL MaxTime=1 DefaultTime=1 State=UP
EOF
  mv "$CONF.new" "$CONF"
  cat >"$ETC/gres.conf" <<EOF
# Fake GPU: any existing file works as the "device"; slurmd only stats it.
NodeName=$NODE Name=gpu File=/dev/null
EOF
  cat >"$ETC/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
ConstrainDevices=no
EOF
  if [[ $ACCT == db ]]; then
    # slurmdbd refuses a slurmdbd.conf that is not 0600 and owned by SlurmUser.
    install -m 600 /dev/null "$ETC/slurmdbd.conf"
    cat >"$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
# without this slurmdbd listens on 0.0.0.0:6819 (DbdAddr alone does not restrict it)
CommunicationParameters=NoInAddrAny
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
EOF
  fi
}

# ---- munge ---------------------------------------------------------------------------
start_munged() {
  if pid_alive munged; then return 0; fi
  if [[ ! -s /etc/munge/munge.key ]]; then   # Debian's postinst normally creates it
    log "generating munge key"; mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "a munged we did not start is already answering; using it (down will not stop it)"
    return 0
  fi
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid   # daemonizes
  for _ in $(seq 1 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
  cp /run/munge/munged.pid "$RUN/munged.pid"
  log "munged pid $(<"$RUN/munged.pid")"
}

# ---- MariaDB + slurmdbd (only with SLURM_NODE_ACCT=db) ----------------------------------
start_mariadb() {
  if pid_alive mariadbd; then return 0; fi
  local data=$DIR/mysql
  if [[ ! -d $data/mysql ]]; then
    log "initialising MariaDB datadir $data"
    install -d -o mysql -g mysql "$data"
    mariadb-install-db --user=mysql --datadir="$data" --skip-test-db \
      --auth-root-authentication-method=socket >"$LOG/mariadb-install.log" 2>&1
  fi
  install -d -o mysql -g mysql "$RUN/mysql"    # socket + server pid file
  # mariadbd stays in the foreground; we background it and record $! (its own pid).
  setsid /usr/sbin/mariadbd --user=mysql --datadir="$data" --socket="$RUN/mysql/mysqld.sock" \
    --pid-file="$RUN/mysql/mariadbd.pid" --bind-address=127.0.0.1 --port=3306 \
    --log-error="$LOG/mariadb.log" --innodb-buffer-pool-size=16M --innodb-lock-wait-timeout=900 --skip-name-resolve \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$RUN/mariadbd.pid"
  for _ in $(seq 1 150); do
    mariadb --socket="$RUN/mysql/mysqld.sock" -uroot -e 'select 1' >/dev/null 2>&1 && break
    sleep 0.1; done
  mariadb --socket="$RUN/mysql/mysqld.sock" -uroot -e "
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  log "mariadbd pid $(<"$RUN/mariadbd.pid")"
}

start_slurmdbd() {
  if pid_alive slurmdbd; then return 0; fi
  /usr/sbin/slurmdbd                       # daemonizes, writes PidFile
  for _ in $(seq 1 150); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.1; done
  sacctmgr -n list cluster >/dev/null || { tail -20 "$LOG/slurmdbd.log" >&2; return 1; }
  # Register the cluster before slurmctld's first contact (avoids a race on first start).
  sacctmgr -n -P list cluster format=cluster | grep -qx local || sacctmgr -i add cluster local >/dev/null
  log "slurmdbd pid $(<"$RUN/slurmdbd.pid")"
}

# ---- slurmctld / slurmd ----------------------------------------------------------------
start_slurmctld() {
  if pid_alive slurmctld; then return 0; fi
  local flags=()
  [[ ${SLURM_NODE_CLEAN:-0} == 1 ]] && flags+=(-c)
  /usr/sbin/slurmctld "${flags[@]}"       # daemonizes, writes SlurmctldPidFile
  for _ in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
  scontrol ping | grep -q UP || { tail -20 "$LOG/slurmctld.log" >&2; return 1; }
  log "slurmctld pid $(<"$RUN/slurmctld.pid")"
}

start_slurmd() {
  if pid_alive slurmd; then return 0; fi
  /usr/sbin/slurmd -N "$NODE"             # daemonizes, writes SlurmdPidFile
  local st=""
  for _ in $(seq 1 100); do
    st=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    [[ $st == idle* || $st == mixed* || $st == alloc* ]] && break; sleep 0.1
  done
  [[ $st == idle* || $st == mixed* || $st == alloc* ]] || {
    log "node state '$st'"; tail -20 "$LOG/slurmd.log" >&2; return 1; }
  log "slurmd pid $(<"$RUN/slurmd.pid") node=$st"
}

cmd_up() {
  [[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }
  local t0=$SECONDS mode
  install_pkgs
  if [[ $ACCT == db ]]; then install_db_pkgs; fi
  mode=$(pick_mode)
  # Rewrite config only while none of our slurm daemons runs (never change it under them).
  if ! pid_alive slurmctld && ! pid_alive slurmd && ! pid_alive slurmdbd; then
    write_config "$mode"; fi
  mkdir -p "$RUN" "$LOG"
  start_munged
  if [[ $ACCT == db ]]; then start_mariadb; start_slurmdbd; fi
  local fresh=0; pid_alive slurmctld || fresh=1
  start_slurmctld
  start_slurmd
  # slurmctld defers scheduling for ~3 s after it starts: the first job sits PENDING
  # (Reason=None) that long. A throwaway job absorbs it, so after `up` jobs start in <1 s.
  if [[ $fresh == 1 && ${SLURM_NODE_WARMUP:-1} == 1 ]]; then
    local w; w=$(sbatch --parsable -J warmup -o /dev/null -e /dev/null --wrap true)
    for _ in $(seq 1 100); do
      scontrol show job "$w" 2>/dev/null | grep -q 'JobState=COMPLETED' && break; sleep 0.1; done
  fi
  log "up in $((SECONDS - t0)) s ($(head -1 "$CONF" | sed 's/.*(\(.*\)).*/\1/'))"
}

cmd_down() {
  # slurmstepd (one per running job) outlives slurmd, so cancel all jobs first while the
  # controller is still up, and wait (<= 20 s) for them to leave the queue.
  if pid_alive slurmctld; then
    squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true   # every user's jobs
    for _ in $(seq 1 200); do
      [[ -z $(squeue -h -t PD,R,CG,S 2>/dev/null) ]] && break; sleep 0.1; done
  fi
  stop_pid slurmd
  stop_pid slurmctld
  stop_pid slurmdbd
  stop_pid mariadbd
  stop_pid munged
  # cgroup mode leaves empty /sys/fs/cgroup/<controller>/slurm_localhost dirs behind;
  # rmdir removes a cgroup only if it is empty (no tasks, no children), so this is safe.
  rmdir /sys/fs/cgroup/*/slurm_"$NODE" 2>/dev/null || true
  # A leftover slurmstepd would be a child of what we started; report, never kill by name.
  local p
  for p in $(pgrep -x slurmstepd || true); do
    is_zombie "$p" || log "slurmstepd $p still running (not killed: not started by this script)"
  done
}

cmd_status() {
  local n
  for n in munged mariadbd slurmdbd slurmctld slurmd; do
    if pid_alive $n; then echo "$n: pid $(<"$RUN/$n.pid") rss=$(ps -o rss= -p "$(<"$RUN/$n.pid")" | tr -d ' ')KB"
    else echo "$n: down"; fi
  done
  if pid_alive slurmctld; then sinfo; fi
}

# ---- smoke ---------------------------------------------------------------------------
# Each check prints PASS/FAIL/INFO and its wall time. Job output goes to $DIR/smoke.
cmd_smoke() {
  local W=$DIR/smoke fails=0 s id id2 arr out r r2 maxrun n st
  rm -rf "$W"; mkdir -p "$W"; cd "$W"
  t() { date +%s.%N; }
  dt() { printf '%.1fs' "$(echo "$(t) - $1" | bc)"; }
  ok() { echo "PASS  $1 ($2)"; }
  bad() { echo "FAIL  $1 ($2)"; fails=$((fails+1)); }
  state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
  wait_state() {  # id, regex, timeout-s
    local i; for i in $(seq 1 $(( $3 * 10 ))); do
      [[ $(state "$1") =~ ^($2)$ ]] && return 0; sleep 0.1; done; return 1; }

  s=$(t); if sinfo -h | grep -q debug; then ok "sinfo" "$(dt "$s")"; else bad "sinfo" "$(dt "$s")"; fi

  s=$(t); id=$(sbatch --parsable -o hi-%j.out --wrap 'echo hi; sleep 2')
  if wait_state "$id" RUNNING 10 && wait_state "$id" COMPLETED 15 && grep -qx hi "hi-$id.out"
  then ok "sbatch RUNNING->COMPLETED, output=hi" "$(dt "$s")"
  else bad "sbatch echo (state=$(state "$id"))" "$(dt "$s")"; fi

  s=$(t); id=$(sbatch --parsable -o fail-%j.out --wrap 'exit 3')
  wait_state "$id" 'FAILED|COMPLETED' 10 || true
  st=$(scontrol show job "$id" | grep -o 'JobState=[A-Z]* .*' | head -1; scontrol show job "$id" | grep -o ' ExitCode=[0-9:]*')
  [[ $st == *FAILED*ExitCode=3:0* ]] && ok "exit 3 -> FAILED ExitCode=3:0" "$(dt "$s")" || bad "exit 3 -> $st" "$(dt "$s")"

  # scancel: the batch shell gets SIGTERM (after SIGCONT), SIGKILL KillWait s later.
  s=$(t)
  id=$(sbatch --parsable -o cancel-%j.out --wrap \
    'trap "echo got-TERM; exit 143" TERM; trap "echo got-USR1" USR1; echo start; for i in $(seq 60); do sleep 1; done')
  wait_state "$id" RUNNING 10; sleep 1
  scancel -s USR1 -b "$id"; sleep 1.5     # custom signal to the batch shell: job keeps running
  scancel "$id"
  if wait_state "$id" CANCELLED 15; then ok "scancel -> CANCELLED; out: $(tr '\n' ' ' <"cancel-$id.out")" "$(dt "$s")"
  else bad "scancel (state=$(state "$id"))" "$(dt "$s")"; fi

  s=$(t); id=$(sbatch --parsable -o ign-%j.out --wrap 'trap "" TERM; echo start; sleep 60 & wait; wait')
  wait_state "$id" RUNNING 10; sleep 0.5; s=$(t); scancel "$id"
  wait_state "$id" CANCELLED 30 && echo "INFO  TERM-ignoring job CANCELLED after $(dt "$s") (KillWait=5)" \
    || bad "TERM-ignoring job (state=$(state "$id"))" "$(dt "$s")"

  s=$(t)
  id=$(sbatch --parsable -o mem-%j.out --mem=50M --wrap \
    "python3 -c 'import time; b=bytearray(300*1024*1024); b[::4096]=b\"x\"*(len(b)//4096); time.sleep(5); print(\"survived\")'")
  if wait_state "$id" 'OUT_OF_MEMORY|FAILED|CANCELLED|COMPLETED' 30; then
    st=$(state "$id")
    if [[ $st == OUT_OF_MEMORY ]]; then ok "--mem=50M, 300MB -> $st" "$(dt "$s")"
    else bad "--mem=50M, 300MB -> $st; out: $(tail -2 "mem-$id.out" | tr '\n' ' ')" "$(dt "$s")"; fi
  else bad "--mem (state=$(state "$id"))" "$(dt "$s")"; fi

  # --time is rounded UP to whole minutes and checked every 30 s: expect 60-90 s.
  # SLURM_SMOKE_QUICK=1 skips it (then sacct below looks at the --mem job instead).
  if [[ ${SLURM_SMOKE_QUICK:-0} != 1 ]]; then
    # --signal=B:USR1@30: warning signal to the batch shell 30 s before the limit.
    s=$(t); id=$(sbatch --parsable -o to-%j.out --time=0:05 --signal=B:USR1@30 --wrap \
      'trap "echo got-USR1" USR1; trap "echo got-TERM; exit 143" TERM; while :; do sleep 1; done')
    if wait_state "$id" TIMEOUT 120; then
      ok "--time=0:05 -> TIMEOUT; out: $(tr '\n' ' ' <"to-$id.out")" "$(dt "$s")"
    else bad "--time (state=$(state "$id"))" "$(dt "$s")"; fi
  fi

  s=$(t); out=$(sacct -j "$id" --format=JobID,State,ExitCode,Elapsed -P -n 2>&1 || true)
  echo "INFO  sacct -j $id -> $(echo "$out" | tr '\n' ' ') ($(dt "$s"))"
  echo "INFO  jobcomp.txt last: $(tail -1 "$LOG/jobcomp.txt" 2>/dev/null | cut -c1-120)..."

  s=$(t); if scontrol show job "$id" | grep -q "JobId=$id"; then ok "scontrol show job" "$(dt "$s")"
  else bad "scontrol show job" "$(dt "$s")"; fi

  s=$(t); arr=$(sbatch --parsable -o arr-%A_%a.out --array=0-9%3 --wrap 'echo task $SLURM_ARRAY_TASK_ID; sleep 1')
  id2=$(sbatch --parsable -o dep-%j.out --dependency=afterok:"$arr" --wrap 'echo after')
  maxrun=0
  for _ in $(seq 1 600); do
    r=$(squeue -h -r -j "$arr" -t R 2>/dev/null | wc -l); (( r > maxrun )) && maxrun=$r
    [[ $(state "$id2") == COMPLETED ]] && break; sleep 0.1
  done
  n=$(cat arr-"${arr}"_*.out 2>/dev/null | grep -c '^task ' || true)
  if [[ $(state "$id2") == COMPLETED && $n == 10 && $maxrun -le 3 ]]; then
    ok "array 0-9%3 (10 outputs, max $maxrun running at once) + afterok dep COMPLETED" "$(dt "$s")"
  else bad "array/dep (n=$n maxrun=$maxrun dep=$(state "$id2"))" "$(dt "$s")"; fi

  s=$(t); id=$(sbatch --parsable --wrap 'exit 1'); id2=$(sbatch --parsable --dependency=afterok:"$id" --wrap true)
  sleep 2; echo "INFO  afterok on a FAILED job -> $(squeue -h -j "$id2" -o '%T %r' 2>&1) ($(dt "$s"))"
  scancel "$id2" || true

  s=$(t); id=$(sbatch --parsable -o gpu-%j.out --gres=gpu:1 --wrap 'echo CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES; sleep 3')
  id2=$(sbatch --parsable -o gpu-%j.out --gres=gpu:1 --wrap 'echo second')
  sleep 1; r2=$(squeue -h -j "$id2" -o '%T %r')
  if wait_state "$id" COMPLETED 20 && wait_state "$id2" COMPLETED 20; then
    ok "--gres=gpu:1 ran ($(cat "gpu-$id.out")); 2nd waited as '$r2'" "$(dt "$s")"
  else bad "gres (state=$(state "$id") $(state "$id2"))" "$(dt "$s")"; fi
  s=$(t); out=$(sbatch --parsable --gres=gpu:2 --wrap true 2>&1 || true)
  echo "INFO  --gres=gpu:2 (only 1 exists) -> $out ($(dt "$s"))"

  echo "smoke: $fails failure(s)"; return "$fails"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  smoke) cmd_smoke ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|smoke|down|status" >&2; exit 2 ;;
esac
