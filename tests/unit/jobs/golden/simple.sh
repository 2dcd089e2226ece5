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
if [ -f "$rv_env" ]; then set -a; . "$rv_env"; set +a; rm -f -- "$rv_env"; fi
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

python train.py
rv_status=$?
exit "$rv_status"
