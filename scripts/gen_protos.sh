#!/usr/bin/env bash
# Regenerates the committed Python stubs from proto/ (the one command; CI checks for drift).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && PY=.venv/bin/python
out=clients/python
rm -f "$out"/vectorgate/v1/*_pb2*.py "$out"/vectorgate/v1/*_pb2*.pyi
"$PY" -m grpc_tools.protoc \
  -I proto -I third_party/googleapis \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  proto/vectorgate/v1/*.proto
cat > "$out/vectorgate/v1/__init__.py" <<'PYEOF'
"""Generated protobuf and gRPC stubs for vectorgate.v1. Do not edit: run scripts/gen_protos.sh."""
PYEOF
