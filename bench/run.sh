#!/usr/bin/env bash
# Run every benchmark; results print as tables and go to bench/results/*.json.
#   bench/run.sh            the default sizes (10k vectors; 10k and 100k in bench_scale)
#   bench/run.sh --smoke    a quick check that every bench works
#   bench/run.sh --full     also 100k vectors in bench_search, and 1M in bench_scale
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
smoke=()
search=()
scale=(--sizes 10000,100000)
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=(--smoke); search+=(--smoke); scale=(--smoke) ;;
    --full) search+=(--full); scale=() ;;
    *) search+=("$arg") ;;
  esac
done
"$PY" bench/bench_embeddings.py "${smoke[@]}"
"$PY" bench/bench_http_vs_grpc.py "${smoke[@]}"
"$PY" bench/bench_search.py "${search[@]}"
"$PY" bench/bench_fanout.py "${smoke[@]}"
"$PY" bench/bench_scale.py "${scale[@]}"
