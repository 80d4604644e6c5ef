#!/usr/bin/env bash
# Build the corpus on SLURM: this small job runs the dask scheduler and the pipeline;
# it submits the worker jobs itself (cluster/slurm.yaml says how big each one is).
#
#   sbatch cluster/launch-slurm.sh RAW OUT [JOBS] [PROFILE]
#   sbatch cluster/launch-slurm.sh /scratch/$USER/raw /scratch/$USER/corpus 20
#
# JOBS: worker jobs to submit (default: `jobs` in the profile); PROFILE: default
# cluster/slurm.yaml. Submit from the repository folder, or give PROFILE as an absolute path.
#SBATCH --job-name=nb-build
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=24:00:00
#SBATCH --output=nb-build-%j.out
# #SBATCH --partition=compute
# #SBATCH --account=abc123
set -euo pipefail

usage="usage: sbatch cluster/launch-slurm.sh RAW OUT [JOBS] [PROFILE]"
RAW=${1:-${RAW:?$usage}}
OUT=${2:-${OUT:?$usage}}
JOBS=${3:-${JOBS:-}}
PROFILE=${4:-${PROFILE:-cluster/slurm.yaml}}

cd "${SLURM_SUBMIT_DIR:-.}"
# Activate the environment neuralbench is installed in; workers reuse its python.
# source ~/venvs/neuralbench/bin/activate

# sbatch run inside a job inherits this job's SLURM_MEM_* variables, which SLURM refuses
# to combine with the worker jobs' own --mem.
unset SLURM_MEM_PER_CPU SLURM_MEM_PER_GPU SLURM_MEM_PER_NODE

exec neuralbench build "$RAW" "$OUT" --cluster slurm --profile "$PROFILE" ${JOBS:+--jobs "$JOBS"}
