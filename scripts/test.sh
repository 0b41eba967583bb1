#!/usr/bin/env bash
# Installs everything the tests need into .venv and runs all checks and tests.
# This is the README's test command; .ci/run calls exactly this.
#   bash scripts/test.sh            full run: protos, ruff, mypy, every test (incl. slow,
#                                   integration and the newcomer smokes in fresh venvs)
#   bash scripts/test.sh --quick    inner loop: ruff, then unit + API tests without the
#                                   slow / integration / soak / newcomer markers
# Further arguments go to pytest in both modes (e.g. -k name, -x, a test path).
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# --- mode: --quick (newcomer issue #13) ----------------------------------------------------
quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
fi
# --- end mode --------------------------------------------------------------------------------

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# The install is skipped in quick mode when pyproject.toml has not changed since the
# last install (its checksum is kept in the venv); the full run always installs.
stamp=.venv/.vectorgate-pyproject.sha256
if [ "$quick" = 0 ] || ! sha256sum -c --status "$stamp" 2>/dev/null; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  sha256sum pyproject.toml > "$stamp"
fi

# --- quick mode: stops here (newcomer issue #13) ---------------------------------------------
if [ "$quick" = 1 ]; then
  echo "== ruff"
  .venv/bin/ruff check .
  echo "== pytest (quick: unit + api, no slow/integration/soak/newcomer)"
  # Unit + API tests unless the arguments name test paths themselves.
  paths=(tests/unit tests/api)
  for arg in "$@"; do
    case "$arg" in tests*) paths=() ;; esac
  done
  set -- "${paths[@]}" "$@"
  exec .venv/bin/python -m pytest -q -ra --durations=10 \
    -m "not slow and not integration and not soak and not newcomer" "$@"
fi
# --- end quick mode --------------------------------------------------------------------------

# Other-language clients: the Go stub plugins for buf.gen.yaml (Debian packages,
# installed only when missing) and the Node.js test's packages (npm ci, skipped
# when node_modules already matches package-lock.json).
missing_pkgs=()
command -v protoc-gen-go >/dev/null || missing_pkgs+=(protoc-gen-go)
command -v protoc-gen-go-grpc >/dev/null || missing_pkgs+=(protoc-gen-go-grpc)
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null \
           && apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}" >/dev/null; } \
      || echo "note: could not install ${missing_pkgs[*]}: the Go stub test will skip"
  else
    echo "note: ${missing_pkgs[*]} missing and cannot be installed: the Go stub test will skip"
  fi
fi
if command -v npm >/dev/null; then
  if ! cmp -s clients/node-test/package-lock.json clients/node-test/node_modules/.vectorgate-lock; then
    (cd clients/node-test && npm ci --no-audit --no-fund --loglevel=error \
      && cp package-lock.json node_modules/.vectorgate-lock)
  fi
else
  echo "note: npm missing: the Node.js client test will skip"
fi

# ---- Web console browser tests (tests/ui) ------------------------------------------
# Debian's chromium, installed when missing; Playwright for Python (the dev extra)
# drives it through executable_path. Never `playwright install`: browser downloads
# do not work here. Screenshots go to $VECTORGATE_UI_ARTIFACTS (default: a temp dir,
# listed at the end of pytest's output).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null \
           && apt-get install -y -q --no-install-recommends chromium >/dev/null; }; } \
      || { echo "error: could not install chromium for the console tests (tests/ui)" >&2; exit 1; }
  else
    echo "error: /usr/bin/chromium is missing (apt-get install chromium) for tests/ui" >&2
    exit 1
  fi
fi
# -------------------------------------------------------------------------------------

# PostgreSQL for the storage tests: Debian's packages when missing, a throwaway
# cluster (initdb in a temp dir as the postgres user, a free port, stopped at exit),
# its URL exported as VECTORGATE_TEST_POSTGRES_URL.
if [ -z "${VECTORGATE_TEST_POSTGRES_URL:-}" ]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$pg_bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q --no-install-recommends postgresql >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null \
           && apt-get install -y -q --no-install-recommends postgresql >/dev/null; }; } \
      || echo "note: could not install postgresql: the PostgreSQL storage tests will skip"
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  fi
  if [ -n "$pg_bin" ] && [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    pg_dir=$(mktemp -d /tmp/vectorgate-pg.XXXXXX)
    chown postgres "$pg_dir"
    pg_port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    runuser -u postgres -- "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
      -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    trap 'runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1; rm -rf "$pg_dir"' EXIT
    export VECTORGATE_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres"
  elif [ -n "$pg_bin" ]; then
    echo "note: PostgreSQL needs root (runuser postgres) here: the PostgreSQL storage tests will skip"
  fi
fi

echo "== protos"
scripts/check_protos.sh
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest -q -ra --durations=20 "$@"
