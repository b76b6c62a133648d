#!/usr/bin/env bash
# Build an `lvmkit dataset` on a Slurm cluster: a job array of N shards (dataset.sbatch, task I
# runs `lvmkit dataset ARGS --shard I/N`), then one merge job (merge.sbatch, `lvmkit dataset
# ARGS --merge`) that starts only when every shard succeeded (--dependency=afterok).
#
#   scripts/slurm/submit-dataset.sh [OPTIONS] -- LVMKIT_DATASET_ARGS...
#
#   scripts/slurm/submit-dataset.sh --shards 16 --partition cpu --time 2:00:00 \
#     --cpus-per-task 8 --mem 16G --data /shared/lvmkit-data --wait \
#     -- --corpus /shared/corpus.jsonl --ood /shared/wiki.jsonl --output /shared/datasets/d1
#
# Options:
#   --shards N          number of shards, array tasks 0..N-1 (default 4)
#   --partition P       Slurm partition (default: the cluster's default partition)
#   --time T            time limit per job, as sbatch takes it (1:00:00, 2-00:00:00, ...)
#   --cpus-per-task C   CPUs per job, also its thread count, RAYON_NUM_THREADS (default 1)
#   --mem M             memory per job (16G, ...)
#   --account A         Slurm account to charge
#   --max-parallel K    at most K shards running at once (--array=0-(N-1)%K)
#   --sbatch-opt OPT    any other sbatch option, for both jobs (--sbatch-opt=--qos=long); repeatable
#   --data DIR          folder of downloaded data and encoders, exported as LVMKIT_DATA
#                       (default: LVMKIT_DATA of this shell, else lvmkit's default)
#   --lvmkit PATH       the lvmkit binary (default: lvmkit on PATH)
#   --logs DIR          where the jobs' logs go (default ./slurm-logs): dataset_ARRAYID_I.out
#                       per shard, merge_JOBID.out for the merge
#   --only LIST         run only these shards (an array list, 3 or 1,4-5), then the merge: to
#                       re-run shards that failed, with the same other options and arguments
#   --wait              block until the merge ends; exit 0 only if every shard and the merge
#                       succeeded, else name the failed jobs and their logs
#   --dry-run           print the sbatch commands, submit nothing
#   -h, --help          this text
#
# Every path must be visible from the compute nodes (a shared file system); the jobs run in the
# folder this script was called from, so relative paths in the arguments work there too.
# Each task gets SHARDS, LVMKIT, LVMKIT_DATA and RAYON_NUM_THREADS in its environment.
#
# Re-running one failed shard (here shard 3 of 16) and then the merge, in one go:
#   scripts/slurm/submit-dataset.sh --shards 16 --only 3 [same options] -- [same arguments]
# or by hand, with sbatch alone:
#   SHARDS=16 LVMKIT=$(command -v lvmkit) sbatch --array=3 scripts/slurm/dataset.sbatch ARGS...
#   sbatch --dependency=afterok:JOBID scripts/slurm/merge.sbatch ARGS...
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
poll="${POLL_SECONDS:-5}"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

die() {
  echo "submit-dataset.sh: $*" >&2
  echo "(scripts/slurm/submit-dataset.sh --help for the options)" >&2
  exit 2
}

positive_int() {
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 takes a positive integer, not '$2'"
}

shards=4
partition=""
time_limit=""
cpus=1
mem=""
account=""
max_parallel=""
extra=()
data="${LVMKIT_DATA:-}"
lvmkit="lvmkit"
logs="slurm-logs"
only=""
wait=0
dry_run=0
opts=() # the options as given, to print a re-run command

while [ $# -gt 0 ]; do
  arg="$1"
  shift
  case "$arg" in
    --) break ;;
    -h | --help)
      usage
      exit 0
      ;;
    --wait)
      wait=1
      opts+=("$arg")
      continue
      ;;
    --dry-run)
      dry_run=1
      continue
      ;;
    --*=*)
      name="${arg%%=*}"
      value="${arg#*=}"
      ;;
    --*)
      name="$arg"
      [ $# -gt 0 ] || die "$name needs a value"
      value="$1"
      shift
      ;;
    *) die "unexpected argument '$arg': the lvmkit dataset arguments go after --" ;;
  esac
  [ "$name" = --only ] || opts+=("$name" "$value")
  case "$name" in
    --shards) shards="$value" ;;
    --partition) partition="$value" ;;
    --time) time_limit="$value" ;;
    --cpus-per-task) cpus="$value" ;;
    --mem) mem="$value" ;;
    --account) account="$value" ;;
    --max-parallel) max_parallel="$value" ;;
    --sbatch-opt) extra+=("$value") ;;
    --data) data="$value" ;;
    --lvmkit) lvmkit="$value" ;;
    --logs) logs="$value" ;;
    --only) only="$value" ;;
    *) die "unknown option $name" ;;
  esac
done
args=("$@")

positive_int --shards "$shards"
positive_int --cpus-per-task "$cpus"
[ -z "$max_parallel" ] || positive_int --max-parallel "$max_parallel"
[ ${#args[@]} -gt 0 ] || die "no lvmkit dataset arguments: give them after --, e.g. -- --corpus c.jsonl --output DIR"
for a in "${args[@]}"; do
  case "$a" in
    --shard | --shard=* | --merge) die "$a is added by the jobs themselves: leave it out of the arguments" ;;
  esac
done

if [ -n "$only" ]; then
  [[ "$only" =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] ||
    die "--only takes shard numbers like 3 or 1,4-5, not '$only'"
  IFS=, read -r -a parts <<<"$only"
  for p in "${parts[@]}"; do
    for i in ${p/-/ }; do
      [ "$((10#$i))" -lt "$shards" ] || die "--only: shard $i is out of range for --shards $shards (0..$((shards - 1)))"
    done
  done
  array="$only"
else
  array="0-$((shards - 1))"
fi
[ -z "$max_parallel" ] || array="$array%$max_parallel"

# Absolute paths: the jobs may start in another folder, on another machine.
if [[ "$lvmkit" == */* ]]; then
  [ -x "$lvmkit" ] || die "--lvmkit $lvmkit is not an executable file"
  lvmkit="$(cd "$(dirname "$lvmkit")" && pwd)/$(basename "$lvmkit")"
elif found="$(command -v "$lvmkit" 2>/dev/null)"; then
  lvmkit="$found"
else
  die "$lvmkit is not on PATH: pass --lvmkit /path/to/lvmkit"
fi
if [ -n "$data" ]; then
  [ -d "$data" ] || die "--data $data is not a folder"
  data="$(cd "$data" && pwd)"
fi
[[ "$logs" == /* ]] || logs="$PWD/$logs"
if [ "$dry_run" -eq 0 ]; then
  command -v sbatch >/dev/null 2>&1 || die "sbatch not found: run this on a Slurm login node"
  mkdir -p "$logs" || die "cannot create the logs folder $logs"
fi

common=(--parsable --chdir "$PWD" --cpus-per-task "$cpus")
[ -z "$partition" ] || common+=(--partition "$partition")
[ -z "$time_limit" ] || common+=(--time "$time_limit")
[ -z "$mem" ] || common+=(--mem "$mem")
[ -z "$account" ] || common+=(--account "$account")
common+=("${extra[@]}")

# The jobs inherit this environment (sbatch's default --export=ALL); no --export=VAR=value, which
# would split values at commas.
export SHARDS="$shards" LVMKIT="$lvmkit" RAYON_NUM_THREADS="$cpus"
if [ -n "$data" ]; then export LVMKIT_DATA="$data"; fi

array_cmd=(sbatch "${common[@]}" --job-name lvmkit-dataset --array "$array"
  --output "$logs/dataset_%A_%a.out" "$here/dataset.sbatch" "${args[@]}")
merge_cmd=(sbatch "${common[@]}" --job-name lvmkit-dataset-merge
  --kill-on-invalid-dep=yes --output "$logs/merge_%j.out" "$here/merge.sbatch" "${args[@]}")

if [ "$dry_run" -eq 1 ]; then
  echo "# environment: SHARDS=$SHARDS LVMKIT=$LVMKIT RAYON_NUM_THREADS=$RAYON_NUM_THREADS LVMKIT_DATA=${LVMKIT_DATA:-}"
  printf '%q ' "${array_cmd[@]}"
  echo
  printf '%q ' "${merge_cmd[@]:0:1}" --dependency=afterok:ARRAY_JOB_ID "${merge_cmd[@]:1}"
  echo
  exit 0
fi

# --parsable prints JOBID or JOBID;CLUSTER.
array_id="$("${array_cmd[@]}")" || {
  echo "submit-dataset.sh: submitting the shards failed" >&2
  exit 1
}
array_id="${array_id%%;*}"
merge_id="$("${merge_cmd[@]:0:1}" --dependency="afterok:$array_id" "${merge_cmd[@]:1}")" || {
  echo "submit-dataset.sh: submitting the merge failed; cancelling the shards (job $array_id)" >&2
  scancel "$array_id" || true
  exit 1
}
merge_id="${merge_id%%;*}"

echo "shards: job array $array_id (tasks $array of $shards), logs $logs/dataset_${array_id}_I.out"
echo "merge:  job $merge_id, after every shard succeeded, log $logs/merge_$merge_id.out"
echo "follow with: squeue -j $array_id,$merge_id"
[ "$wait" -eq 1 ] || exit 0

# --wait. Not `sbatch --wait`: it exits 0 for a job cancelled because a shard failed. Polls
# scontrol (which knows finished jobs for MinJobAge, 300 s by default), else sacct.

# FIELD=value from one `scontrol show job -o` line.
field() {
  sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2" | head -n 1
}

# "STATE REASON EXITCODE" of job $1, or nothing when Slurm no longer knows it.
job_state() {
  local line
  if line="$(scontrol show job -o "$1" 2>/dev/null | head -n 1)" && [ -n "$line" ]; then
    echo "$(field JobState "$line") $(field Reason "$line") $(field ExitCode "$line")"
  elif line="$(sacct -n -X -P -j "$1" -o State,ExitCode 2>/dev/null | head -n 1)" && [ -n "$line" ]; then
    echo "${line%%|*} - ${line#*|}" | sed 's/ by [0-9]*//'
  fi
}

# One line per shard of the array: "TASK STATE EXITCODE" (a pending rest of the array is one
# line, its TASK a range like 2-7).
shard_states() {
  local line lines
  if lines="$(scontrol show job -o "$array_id" 2>/dev/null)"; then
    while read -r line; do
      echo "$(field ArrayTaskId "$line") $(field JobState "$line") $(field ExitCode "$line")"
    done <<<"$lines"
  elif lines="$(sacct -n -X -P -j "$array_id" -o JobID,State,ExitCode 2>/dev/null)"; then
    while IFS='|' read -r id st ec; do
      echo "${id#*_} ${st%% *} $ec"
    done <<<"$lines"
  fi
  return 0
}

report_failed_shards() {
  local task st ec log failed=()
  while read -r task st ec; do
    [ -n "$task" ] || continue
    [ "$st" = COMPLETED ] && continue
    failed+=("$task")
    log="$logs/dataset_${array_id}_$task.out"
    echo "shard $task: $st (exit code $ec), log $log" >&2
    if [ -r "$log" ]; then
      tail -n 15 "$log" | sed 's/^/    /' >&2
    fi
  done < <(shard_states)
  if [ ${#failed[@]} -eq 0 ]; then
    echo "(Slurm no longer lists the shards: see $logs/dataset_${array_id}_*.out)" >&2
    return
  fi
  local list
  list="$(
    IFS=,
    echo "${failed[*]}"
  )"
  echo "re-run the failed shard(s) and the merge with:" >&2
  printf '  %q' "$0" >&2
  printf ' %q' "${opts[@]}" --only "$list" -- "${args[@]}" >&2
  echo >&2
}

trap 'echo; echo "submit-dataset.sh: stopped waiting; jobs $array_id and $merge_id keep going (scancel $array_id $merge_id to stop them)" >&2; exit 130' INT TERM

last=""
while :; do
  read -r state reason exit_code <<<"$(job_state "$merge_id")" || true
  progress="$(shard_states | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')" || true
  now="merge ${state:-unknown}${reason:+ ($reason)}; shards: ${progress:-none listed}"
  if [ "$now" != "$last" ]; then
    echo "$(date +%T) $now"
    last="$now"
  fi
  case "${state:-}" in
    "")
      echo "submit-dataset.sh: Slurm no longer knows job $merge_id; see $logs/merge_$merge_id.out" >&2
      exit 1
      ;;
    PENDING | CONFIGURING | REQUEUED | RESIZING | SUSPENDED)
      if [ "$reason" = DependencyNeverSatisfied ]; then
        scancel "$merge_id" 2>/dev/null || true
        echo "submit-dataset.sh: a shard failed, so the merge (job $merge_id) never runs:" >&2
        report_failed_shards
        exit 1
      fi
      ;;
    RUNNING | COMPLETING) ;;
    COMPLETED)
      if [ "$exit_code" = 0:0 ]; then
        echo "done: every shard and the merge succeeded (log $logs/merge_$merge_id.out)"
        exit 0
      fi
      echo "submit-dataset.sh: the merge (job $merge_id) ended with exit code $exit_code" >&2
      exit 1
      ;;
    *)
      if [ "$reason" = DependencyNeverSatisfied ] || { [ "$state" = CANCELLED ] && shard_states | grep -v ' COMPLETED ' >/dev/null; }; then
        echo "submit-dataset.sh: a shard failed, so the merge (job $merge_id) was cancelled:" >&2
        report_failed_shards
      else
        echo "submit-dataset.sh: the merge (job $merge_id) ended $state (exit code $exit_code), log $logs/merge_$merge_id.out:" >&2
        tail -n 25 "$logs/merge_$merge_id.out" 2>/dev/null | sed 's/^/    /' >&2 || true
      fi
      exit 1
      ;;
  esac
  sleep "$poll"
done
