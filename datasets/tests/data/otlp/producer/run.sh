#!/usr/bin/env bash
# Regenerates ../spans-old-semconv.jsonl, ../spans-new-semconv.jsonl and
# ../metrics.jsonl from a real OpenTelemetry JS SDK run against a throwaway
# PostgreSQL cluster started here (never the one on port 5432).
#
# Needs: node >= 20 and npm, PostgreSQL server binaries (initdb, pg_ctl,
# pgbench, psql) under /usr/lib/postgresql/*/bin, a `postgres` OS user when run
# as root. Usage: bash run.sh   (PGPORT_TMP=55433 by default)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="$(cd "$HERE/.." && pwd)"
PORT="${PGPORT_TMP:-55433}"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)}"
DB=poolcast

cd "$HERE"
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi

if (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "port $PORT is in use; set PGPORT_TMP to a free port" >&2
  exit 1
fi

TMP="$(mktemp -d /tmp/poolcast-otlp-XXXXXX)"
AS=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$TMP"
  AS=(runuser -u postgres --)
fi
RECEIVER_PID=""
cleanup() {
  if [ -n "$RECEIVER_PID" ]; then kill "$RECEIVER_PID" 2>/dev/null || true; fi
  if [ -f "$TMP/data/postmaster.pid" ]; then
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$TMP/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

"${AS[@]}" "$PGBIN/initdb" -D "$TMP/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/postgres.log" -w \
  -o "-p $PORT -k $TMP -c listen_addresses=127.0.0.1" start >/dev/null
export PGHOST=127.0.0.1 PGPORT="$PORT" PGUSER=postgres PGDATABASE="$DB"
"$PGBIN/createdb" "$DB"
"$PGBIN/pgbench" -i -s 1 -q "$DB" 2>/dev/null
echo "PostgreSQL: $("$PGBIN/psql" -Atc 'select version()')"

# run MODE OUTFILE [extra env...]
run() {
  local mode="$1" out="$2"; shift 2
  rm -f "$TMP/port"
  node receiver.js "$out" "$TMP/port" &
  RECEIVER_PID=$!
  for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
  [ -s "$TMP/port" ] || { echo "receiver did not start" >&2; exit 1; }
  env "$@" MODE="$mode" OTLP_URL="http://127.0.0.1:$(cat "$TMP/port")" node workload.js
  kill -TERM "$RECEIVER_PID"
  wait "$RECEIVER_PID"
  RECEIVER_PID=""
}

# Old (pre-stable) database semantic conventions: instrumentation-pg 0.72.0 default.
run traces-old "$OUT/spans-old-semconv.jsonl" OTEL_SEMCONV_STABILITY_OPT_IN=
# Stable database semantic conventions: instrumentation-pg 0.76.0 (emits only
# the stable names; the opt-in variable is set for clarity, 0.76.0 ignores it).
run traces-new "$OUT/spans-new-semconv.jsonl" OTEL_SEMCONV_STABILITY_OPT_IN=database
# Pool and operation metrics, 1 s periodic export, ~80 s of ramping load.
run metrics "$OUT/metrics.jsonl" OTEL_SEMCONV_STABILITY_OPT_IN=database

node stats.js "$OUT"
