#!/usr/bin/env bash
# Runs a small sweep on a one-node Slurm cluster brought up on this machine, as a job array of
# shards plus a dependent merge job (deploy/slurm/sweep.sbatch), and checks that the merged
# files equal, byte for byte, the same sweep run by one `sim sweep`.
#
# Installs Debian's slurm-wlm (and munge) when sbatch is missing; needs root for that and for
# the daemons. Everything else lives in a scratch folder, and no daemon outlives the script.
# Usage: scripts/slurm-smoke.sh [SIM]   (SIM: the sim binary; default target/release/sim)
set -euo pipefail
cd "$(dirname "$0")/.."

sim=$(realpath "${1:-target/release/sim}")
study=experiments/sweeps/concurrency.yaml
settings=(--horizon 600s --replications 2)
shards=3

if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null; then
    echo "== installing Slurm (Debian's slurm-wlm)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null
fi

scratch=$(mktemp -d /tmp/capsim-slurm.XXXXXX)
conf="$scratch/slurm.conf"
node=$(hostname)
cat >"$conf" <<CONF
ClusterName=local
SlurmctldHost=$node
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/slurmctld.log
SlurmdLogFile=$scratch/slurmd.log
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$scratch/state" "$scratch/spool"
export SLURM_CONF="$conf"

stop() {
    for pid_file in "$scratch/slurmd.pid" "$scratch/slurmctld.pid"; do
        [ -s "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null || true
    done
    if [ -n "${munged_pid:-}" ]; then kill "$munged_pid" 2>/dev/null || true; fi
    sleep 1
    rm -rf "$scratch"
}
trap stop EXIT

echo "== starting munged, slurmctld and slurmd"
munge_dir="$scratch/munge"
mkdir -p "$munge_dir"
munged --force --socket="$munge_dir/munge.socket.2" --pid-file="$munge_dir/munged.pid" \
    --log-file="$munge_dir/munged.log" --seed-file="$munge_dir/munged.seed" 2>/dev/null
munged_pid=$(cat "$munge_dir/munged.pid")
# Slurm's munge plugin reaches munged through this socket.
echo "AuthInfo=socket=$munge_dir/munge.socket.2" >>"$conf"
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qx idle; then break; fi
    sleep 1
done
sinfo -h -o %t | grep -qx idle || { echo "the Slurm node never became idle" >&2; cat "$scratch"/*.log >&2; exit 1; }

echo "== sweep as a job array of $shards shards plus a dependent merge job"
out="$scratch/results/concurrency"
mkdir -p "$scratch/results"
array=$(SIM="$sim" sbatch --parsable --array=0-$((shards - 1)) --cpus-per-task=1 \
    --output="$scratch/shard-%a.log" deploy/slurm/sweep.sbatch "$study" "$out" "${settings[@]}")
SIM="$sim" sbatch --wait --dependency=afterok:"$array" --cpus-per-task=1 \
    --output="$scratch/merge.log" deploy/slurm/sweep.sbatch "$study" "$out" >/dev/null || {
    echo "the merge job failed" >&2; cat "$scratch"/*.log >&2; exit 1; }
ls "$out.shards"

echo "== the same sweep on one machine"
"$sim" sweep "$study" "${settings[@]}" --out "$scratch/single" --quiet >/dev/null

# Every result file must be identical; the manifest (.capsim-result.json) names the invocation
# that wrote its folder, so it differs by design.
diff -r -x .capsim-result.json "$scratch/single" "$out"
count=$(find "$out" -type f ! -name .capsim-result.json | wc -l)
echo "slurm smoke: the merged sweep of $shards shards equals the single-machine sweep ($count files, byte for byte)"
