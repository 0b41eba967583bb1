#!/usr/bin/env bash
# Fails when buf lint fails, when the committed stubs differ from a fresh generation,
# or when the protos break compatibility with the previous commit (buf breaking, FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BUF=${BUF:-.venv/bin/buf}

"$BUF" lint
echo "buf lint: clean"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m grpc_tools.protoc -I proto -I third_party/googleapis \
  --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" proto/vectorgate/v1/*.proto
cp clients/python/vectorgate/v1/__init__.py "$tmp/vectorgate/v1/__init__.py"
if ! diff -r -x __pycache__ "$tmp/vectorgate/v1" clients/python/vectorgate/v1 >/dev/null; then
  diff -r -x __pycache__ "$tmp/vectorgate/v1" clients/python/vectorgate/v1 | head -40 || true
  echo "generated stubs are out of date: run scripts/gen_protos.sh and commit" >&2
  exit 1
fi
echo "stubs: in sync"

if git rev-parse -q --verify HEAD~1 >/dev/null 2>&1 \
   && git cat-file -e HEAD~1:proto/vectorgate/v1/types.proto 2>/dev/null; then
  "$BUF" breaking --against ".git#ref=HEAD~1"
  echo "buf breaking (against HEAD~1): clean"
fi
