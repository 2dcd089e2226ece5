#!/bin/bash
#SBATCH --job-name=train
#SBATCH --partition=gpu-a6000
#SBATCH --time=02:59:00
#SBATCH --nodes=1
#SBATCH --cpus-per-task=8
#SBATCH --chdir=/scratch/abs6bd
#SBATCH --output=/scratch/abs6bd/.rv/logs/%x-%j.out
#SBATCH --error=/scratch/abs6bd/.rv/logs/%x-%j.err
#SBATCH --account=mylab_paid
#SBATCH --gres=gpu:a6000:2
#SBATCH --mem=96G

set -uo pipefail
rv_env=/scratch/abs6bd/.rv/env/x.env
rv_env_text=
if [ -f "$rv_env" ]; then rv_env_text=$(< "$rv_env"); rm -f -- "$rv_env"; else echo "rv: $rv_env is gone (swept after a cancel?); running without the %rv_env values" >&2; fi
if type module >/dev/null 2>&1; then module load cuda/12.8.0; fi
export OMP_NUM_THREADS=8
export TOKENIZERS_PARALLELISM=false
export HF_HOME=/scratch/abs6bd/.cache/huggingface
export PIP_CACHE_DIR=/scratch/abs6bd/.cache/pip
export UV_CACHE_DIR=/scratch/abs6bd/.cache/uv
export VLLM_CACHE_DIR=/scratch/abs6bd/.cache/vllm
export RV_FIRST_JOB_ID="${RV_FIRST_JOB_ID:-$SLURM_JOB_ID}"
export RV_CHECKPOINT_DIR=/scratch/abs6bd/.rv/checkpoints/"$SLURM_JOB_NAME-$RV_FIRST_JOB_ID"
export CHECKPOINT_DIR="$RV_CHECKPOINT_DIR"
mkdir -p -- "$RV_CHECKPOINT_DIR"

rv_pg=
rv_alive() { ps -o stat= -s "$rv_pg" 2>/dev/null | grep -qv "^Z"; }
rv_end() {
  if [ -n "$rv_pg" ] && kill -TERM -- "-$rv_pg" 2>/dev/null; then
    rv_i=0; while [ "$rv_i" -lt 30 ] && rv_alive; do
      sleep 0.1; rv_i=$((rv_i + 1)); done
    kill -KILL -- "-$rv_pg" 2>/dev/null
  fi
  return 0
}
trap rv_end EXIT
trap 'exit 143' TERM HUP INT
( set -a; eval "$rv_env_text"; set +a; unset ${!RV_NOTIFY_@}; exec setsid python train.py ) &
rv_pg=$!
while :; do wait "$rv_pg"; rv_status=$?; kill -0 "$rv_pg" 2>/dev/null || break; done
exit "$rv_status"
