#!/usr/bin/env bash
# Run every benchmark; results print as tables and go to bench/results/*.json.
#   bench/run.sh            the default sizes (10k vectors)
#   bench/run.sh --smoke    a quick check that every bench works
#   bench/run.sh --full     also 100k vectors in bench_search
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
smoke=()
search=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=(--smoke); search+=(--smoke) ;;
    --full) search+=(--full) ;;
    *) search+=("$arg") ;;
  esac
done
"$PY" bench/bench_embeddings.py "${smoke[@]}"
"$PY" bench/bench_http_vs_grpc.py "${smoke[@]}"
"$PY" bench/bench_search.py "${search[@]}"
"$PY" bench/bench_fanout.py "${smoke[@]}"
