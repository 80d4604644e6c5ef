#!/usr/bin/env bash
# Build the corpus on SLURM. This head job runs the dask scheduler and the pipeline's
# bookkeeping only (one core); it submits the worker jobs itself, sized by the profile
# (cluster/slurm.yaml), and cancels them when it ends, is cancelled or hits its time.
#
#   sbatch cluster/launch-slurm.sh RAW OUT [JOBS] [PROFILE]
#   sbatch cluster/launch-slurm.sh /scratch/$USER/raw /scratch/$USER/corpus 20
#
# JOBS: worker jobs to submit (default: `jobs` in the profile); PROFILE: default
# cluster/slurm.yaml. Submit from the repository folder, or give PROFILE as an absolute path.
#
# Edit for your site: the --time line (the whole build, longer than a worker's walltime),
# the --partition/--account lines if your site needs them, and SETUP below them.
#SBATCH --time=24:00:00
# #SBATCH --partition=compute
# #SBATCH --account=abc123
#SBATCH --job-name=nb-build
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --output=nb-build-%j.out
# SETUP: the shell line that puts `neuralbench` on PATH in a batch job, e.g.
#   "source $HOME/venvs/neuralbench/bin/activate"   or   "module load miniforge && conda activate nb"
# Empty: `neuralbench` is already on PATH (sbatch passes on the submitting shell's environment).
SETUP=""
set -euo pipefail

usage="usage: sbatch cluster/launch-slurm.sh RAW OUT [JOBS] [PROFILE]"
RAW=${1:-${RAW:?$usage}}
OUT=${2:-${OUT:?$usage}}
JOBS=${3:-${JOBS:-}}
PROFILE=${4:-${PROFILE:-cluster/slurm.yaml}}

cd "${SLURM_SUBMIT_DIR:-.}"
if [ -n "$SETUP" ]; then
    eval "$SETUP"
fi
if ! command -v neuralbench >/dev/null; then
    echo "launch-slurm.sh: neuralbench is not on PATH in this job; set SETUP near the top of" \
         "this script to the line that activates its environment (now: '${SETUP}')" >&2
    exit 127
fi

# sbatch run inside a job inherits this job's SLURM_MEM_* variables, which SLURM refuses
# to combine with the worker jobs' own --mem.
unset SLURM_MEM_PER_CPU SLURM_MEM_PER_GPU SLURM_MEM_PER_NODE

# exec: the build itself receives SLURM's SIGTERM (scancel, time limit) and cancels its workers
exec neuralbench build "$RAW" "$OUT" --cluster slurm --profile "$PROFILE" ${JOBS:+--jobs "$JOBS"}
