#!/usr/bin/env bash
# End-to-end clone benchmark: restage against the physical limit (a raw binary
# COPY pipe), pg_dump/pg_restore and pgcopydb, on two throwaway local clusters.
# See benches/e2e/README.md for what is measured and why.
#
# Usage: benches/e2e/run.sh [--scale 50] [--customers 2000000] [--orders 6000000]
#                           [--runs 3] [--restage PATH] [options]   (--help for all)
set -euo pipefail

SCALE=50
CUSTOMERS=2000000
ORDERS=6000000
RUNS=3
RESTAGE=""
RESTAGE_ARGS=""
NO_BUILD=0
METHODS="raw,pgdump,pgcopydb,restage,restage_serial,restage_rules,restage_restore,restage_refresh"
DUMP_COMPRESS=""
JOBS=2
KEEP_WORK=0

usage() {
    cat <<'EOF'
Usage: benches/e2e/run.sh [options]

  --scale N          pgbench scale factor of the source database (default 50)
  --customers N      rows in the customers table (default 2000000)
  --orders N         rows in the orders table (default 6000000)
  --runs N           runs per method; the median is reported (default 3)
  --restage PATH     restage binary (default target/release/restage, built with
                     `cargo build --release` when missing)
  --restage-args S   extra arguments for `restage clone` (word-split)
  --no-build         never run cargo; a missing restage binary is reported as FAILED
  --methods LIST     comma-separated subset of raw,pgdump,pgcopydb,restage,
                     restage_serial,restage_rules,restage_restore,raw_subset,restage_subset
  --dump-compress N  pass -Z N to pg_dump -Fd (default: pg_dump's own default)
  --keep-work        do not stop/remove the clusters and the work directory
  -h, --help         this text

Small smoke run:
  benches/e2e/run.sh --scale 2 --customers 20000 --orders 60000 --runs 1
EOF
}

die() { echo "run.sh: error: $*" >&2; exit 2; }
need_arg() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --scale)         need_arg "$@"; SCALE="$2"; shift 2 ;;
        --scale=*)       SCALE="${1#*=}"; shift ;;
        --customers)     need_arg "$@"; CUSTOMERS="$2"; shift 2 ;;
        --customers=*)   CUSTOMERS="${1#*=}"; shift ;;
        --orders)        need_arg "$@"; ORDERS="$2"; shift 2 ;;
        --orders=*)      ORDERS="${1#*=}"; shift ;;
        --runs)          need_arg "$@"; RUNS="$2"; shift 2 ;;
        --runs=*)        RUNS="${1#*=}"; shift ;;
        --restage)       need_arg "$@"; RESTAGE="$2"; shift 2 ;;
        --restage=*)     RESTAGE="${1#*=}"; shift ;;
        --restage-args)  need_arg "$@"; RESTAGE_ARGS="$2"; shift 2 ;;
        --restage-args=*) RESTAGE_ARGS="${1#*=}"; shift ;;
        --no-build)      NO_BUILD=1; shift ;;
        --methods)       need_arg "$@"; METHODS="$2"; shift 2 ;;
        --methods=*)     METHODS="${1#*=}"; shift ;;
        --dump-compress) need_arg "$@"; DUMP_COMPRESS="$2"; shift 2 ;;
        --dump-compress=*) DUMP_COMPRESS="${1#*=}"; shift ;;
        --keep-work)     KEEP_WORK=1; shift ;;
        -h|--help)       usage; exit 0 ;;
        *)               usage >&2; die "unknown argument: $1" ;;
    esac
done
for v in SCALE CUSTOMERS ORDERS RUNS; do
    is_uint "${!v}" && [[ "${!v}" -ge 1 ]] || die "--${v,,} must be a positive integer (got '${!v}')"
done
[[ -z "$DUMP_COMPRESS" ]] || is_uint "$DUMP_COMPRESS" || die "--dump-compress must be an integer"
IFS=',' read -r -a METHOD_LIST <<<"$METHODS"
for m in "${METHOD_LIST[@]}"; do
    case "$m" in raw|pgdump|pgcopydb|restage|restage_serial|restage_rules|restage_restore|restage_refresh|raw_subset|restage_subset) ;; *) die "unknown method '$m' in --methods" ;; esac
done
has_method() { [[ ",$METHODS," == *",$1,"* ]]; }

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RULES_FILE="$REPO_ROOT/benches/e2e/rules.toml"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT_DIR="$REPO_ROOT/bench-out"
OUT_BASE="$OUT_DIR/e2e-$STAMP"
LOG_DIR="$OUT_BASE.logs"
mkdir -p "$LOG_DIR"

ts() { date -u +%H:%M:%S; }
log() { echo "[$(ts)] $*" >&2; }
now() { local t="${EPOCHREALTIME:-}"; [[ -n "$t" ]] && echo "${t/,/.}" || date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# ---------------------------------------------------------------------------
# Dependencies (installed with apt-get when running as root on Debian/Ubuntu)
# ---------------------------------------------------------------------------
IS_ROOT=0; [[ "$(id -u)" -eq 0 ]] && IS_ROOT=1
APT_UPDATED=0
apt_install() {
    [[ $IS_ROOT -eq 1 ]] && command -v apt-get >/dev/null 2>&1 || return 1
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
        APT_UPDATED=1
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

find_pgbin() {
    local d best="" bestv=0 v
    if [[ -n "${PGBIN:-}" && -x "$PGBIN/initdb" ]]; then echo "$PGBIN"; return 0; fi
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/pgbench" ]] || continue
        v="$(basename "$(dirname "$d")")"
        is_uint "$v" || continue
        if (( v > bestv )); then bestv=$v; best=$d; fi
    done
    if [[ -z "$best" ]] && command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir)"
        [[ -x "$d/initdb" && -x "$d/pgbench" ]] && best="$d"
    fi
    [[ -n "$best" ]] && echo "$best"
}

PGBIN_DIR="$(find_pgbin || true)"
if [[ -z "$PGBIN_DIR" ]]; then
    apt_install postgresql postgresql-contrib || die "no PostgreSQL server binaries (initdb, pg_ctl, pgbench) found; install the 'postgresql' package"
    PGBIN_DIR="$(find_pgbin || true)"
    [[ -n "$PGBIN_DIR" ]] || die "PostgreSQL was installed but initdb/pgbench were not found under /usr/lib/postgresql/*/bin"
fi
export PATH="$PGBIN_DIR:$PATH"    # pg_dump/pg_restore of the same version for every method (pgcopydb too)
for b in initdb pg_ctl postgres psql pg_dump pg_restore pgbench createdb dropdb vacuumdb; do
    [[ -x "$PGBIN_DIR/$b" ]] || die "$PGBIN_DIR/$b is missing"
done

if [[ ! -x /usr/bin/time ]]; then
    apt_install time || log "warning: /usr/bin/time is missing (package 'time'); restage peak RSS will not be reported"
fi
PGCOPYDB="$(command -v pgcopydb || true)"
if has_method pgcopydb && [[ -z "$PGCOPYDB" ]]; then
    apt_install pgcopydb || log "warning: could not install pgcopydb; its rows will show FAILED"
    PGCOPYDB="$(command -v pgcopydb || true)"
fi

# restage binary: default path is built when missing
RESTAGE_DEFAULT=0
if [[ -z "$RESTAGE" ]]; then RESTAGE="$REPO_ROOT/target/release/restage"; RESTAGE_DEFAULT=1; fi
if has_method restage && [[ ! -x "$RESTAGE" && $RESTAGE_DEFAULT -eq 1 && $NO_BUILD -eq 0 ]]; then
    if command -v cargo >/dev/null 2>&1; then
        log "building restage: cargo build --release (log: $LOG_DIR/cargo-build.log)"
        (cd "$REPO_ROOT" && cargo build --release) >"$LOG_DIR/cargo-build.log" 2>&1 \
            || log "warning: cargo build --release failed; restage rows will show FAILED"
    else
        log "warning: cargo not found; restage rows will show FAILED"
    fi
fi

# ---------------------------------------------------------------------------
# Two throwaway clusters (source, target)
# ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/restage-e2e.XXXXXX")"
chmod 755 "$WORK"
PG_OS_USER="$(id -un)"
if [[ $IS_ROOT -eq 1 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    PG_OS_USER=postgres
fi
as_pg() {
    if [[ $IS_ROOT -eq 1 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

CLUSTERS=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # stop any helper processes this script started
    local p
    for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done
    if [[ $KEEP_WORK -eq 1 ]]; then
        log "keeping clusters and work directory: $WORK"
    else
        local c
        for c in "${CLUSTERS[@]}"; do
            as_pg "$PGBIN_DIR/pg_ctl" -D "$c/data" -m immediate -w stop >/dev/null 2>&1 || true
        done
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_port=55432
pick_port() {   # sets PICKED (no subshell: next_port must advance)
    while ! port_free "$next_port"; do next_port=$((next_port + 1)); done
    PICKED=$next_port; next_port=$((next_port + 1))
}

start_cluster() {   # $1 = name, $2 = port
    local dir="$WORK/$1"
    mkdir -p "$dir"
    [[ $IS_ROOT -eq 1 ]] && chown "$PG_OS_USER" "$dir"
    as_pg "$PGBIN_DIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$LOG_DIR/initdb-$1.log" 2>&1 \
        || as_pg "$PGBIN_DIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$LOG_DIR/initdb-$1.log" 2>&1 \
        || die "initdb failed for $1 (see $LOG_DIR/initdb-$1.log)"
    cat >>"$dir/data/postgresql.conf" <<EOF

# restage e2e bench settings (identical for every method; throwaway cluster)
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = '$dir'
max_connections = 50
shared_buffers = 1GB
maintenance_work_mem = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
wal_level = minimal
max_wal_senders = 0
logging_collector = off
EOF
    CLUSTERS+=("$dir")
    as_pg "$PGBIN_DIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cp "$dir/server.log" "$LOG_DIR/server-$1.log" 2>/dev/null || true; die "could not start the $1 cluster (see $LOG_DIR/server-$1.log)"; }
}

pick_port; SRC_PORT=$PICKED
pick_port; DST_PORT=$PICKED
log "work dir $WORK; starting source cluster on 127.0.0.1:$SRC_PORT and target cluster on 127.0.0.1:$DST_PORT"
start_cluster source "$SRC_PORT"
start_cluster target "$DST_PORT"

SRC_URL="postgres://postgres@127.0.0.1:$SRC_PORT/bench"
DST_URL="postgres://postgres@127.0.0.1:$DST_PORT/bench"
psql_src() { "$PGBIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$SRC_URL" "$@"; }
psql_dst() { "$PGBIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$DST_URL" "$@"; }
psql_dst_admin() { PGOPTIONS="-c client_min_messages=warning" "$PGBIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d "postgres://postgres@127.0.0.1:$DST_PORT/postgres" "$@"; }

# ---------------------------------------------------------------------------
# Source data
# ---------------------------------------------------------------------------
"$PGBIN_DIR/createdb" -h 127.0.0.1 -p "$SRC_PORT" -U postgres bench
t0="$(now)"
log "generating source data: pgbench -i -s $SCALE, $CUSTOMERS customers, $ORDERS orders"
"$PGBIN_DIR/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$SRC_PORT" -U postgres bench >"$LOG_DIR/pgbench-init.log" 2>&1 \
    || die "pgbench -i failed (see $LOG_DIR/pgbench-init.log)"

psql_src <<'SQL'
CREATE TABLE customers (
    id         bigint NOT NULL,
    email      text NOT NULL,
    full_name  text NOT NULL,
    phone      text,
    birth_date date,
    address    jsonb,
    created_at timestamptz NOT NULL
);
CREATE TABLE orders (
    id          bigint NOT NULL,
    customer_id bigint NOT NULL,
    amount      numeric(12,2) NOT NULL,
    status      text NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL
);
SQL

# customers and orders are generated in parallel; keys and FK afterwards.
psql_src -v n="$CUSTOMERS" >"$LOG_DIR/gen-customers.log" 2>&1 <<'SQL' &
SET TimeZone = 'UTC';
INSERT INTO customers
SELECT n,
       lower(fn) || '.' || lower(ln) || n || '@' || (ARRAY['gmail.com', 'yahoo.com', 'outlook.com', 'example.org', 'proton.me'])[1 + (h / 3) % 5],
       fn || ' ' || ln,
       CASE (h / 11) % 4
            WHEN 0 THEN '+1 (' || (200 + h % 800) || ') 555-' || lpad((n % 10000)::text, 4, '0')
            WHEN 1 THEN '+44 20 7946 ' || lpad((n % 10000)::text, 4, '0')
            WHEN 2 THEN (200 + h % 800) || '.555.' || lpad((n % 10000)::text, 4, '0')
            END,
       CASE WHEN n % 20 = 0 THEN NULL ELSE date '1940-01-01' + (h % 25000)::integer END,
       jsonb_build_object(
           'street',   (1 + h % 999) || ' ' || (ARRAY['Main Street', 'Oak Avenue', 'Rue de Rivoli', 'Königstraße', 'Via Roma', 'High Street', 'Calle Mayor', 'Elm Street'])[1 + (h / 7) % 8],
           'city',     (ARRAY['Springfield', 'Paris', 'Berlin', 'Roma', 'London', 'Madrid', 'Austin', 'Köln'])[1 + (h / 13) % 8],
           'postcode', lpad((h % 100000)::text, 5, '0'),
           'country',  (ARRAY['US', 'FR', 'DE', 'IT', 'GB', 'ES', 'US', 'DE'])[1 + (h / 13) % 8]),
       timestamptz '2015-01-01 00:00:00+00' + n * interval '2 minutes'
FROM generate_series(1, :n) AS n
CROSS JOIN LATERAL (SELECT (n::bigint * 2654435761) % 4294967296 AS h) AS x
CROSS JOIN LATERAL (SELECT (ARRAY['James', 'Mary', 'José', 'Zoë', 'Wei', 'Aisha', 'Søren', 'Priya', 'Olumide', 'Giulia'])[1 + h % 10] AS fn,
                           (ARRAY['Smith', 'García', 'Müller', 'Rossi', 'Tanaka', 'Okafor', 'Nielsen', 'Patel', 'Dubois', 'Kowalski'])[1 + (h / 10) % 10] AS ln) AS p;
SQL
gen_c=$!
psql_src -v n="$ORDERS" -v c="$CUSTOMERS" >"$LOG_DIR/gen-orders.log" 2>&1 <<'SQL' &
SET TimeZone = 'UTC';
INSERT INTO orders
SELECT n,
       1 + h % :c,
       (h % 100000) / 100.0,
       (ARRAY['paid', 'shipped', 'delivered', 'delivered', 'delivered', 'cancelled', 'refunded', 'pending'])[1 + (h / 7) % 8],
       CASE WHEN n % 10 = 0 THEN NULL
            ELSE (ARRAY['Leave at the door', 'Gift wrap please', 'Ring twice', 'Deliver after 6pm', 'Call on arrival'])[1 + (h / 5) % 5]
                 || ' - ref ' || n || ' ' || left(md5(n::text), 10 + (h % 30)::integer) END,
       timestamptz '2020-01-01 00:00:00+00' + n * interval '5 seconds'
FROM generate_series(1, :n) AS n
CROSS JOIN LATERAL (SELECT (n::bigint * 2654435761) % 4294967296 AS h) AS x;
SQL
gen_o=$!
wait "$gen_c" || die "generating customers failed (see $LOG_DIR/gen-customers.log)"
wait "$gen_o" || die "generating orders failed (see $LOG_DIR/gen-orders.log)"

psql_src -c "ALTER TABLE customers ADD PRIMARY KEY (id)" >"$LOG_DIR/gen-keys.log" 2>&1 &
k1=$!
psql_src -c "ALTER TABLE orders ADD PRIMARY KEY (id)" >>"$LOG_DIR/gen-keys.log" 2>&1 &
k2=$!
wait "$k1" && wait "$k2" || die "adding primary keys failed (see $LOG_DIR/gen-keys.log)"
psql_src >>"$LOG_DIR/gen-keys.log" 2>&1 <<'SQL' || die "adding constraints failed (see $LOG_DIR/gen-keys.log)"
ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);
ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_created_at_idx ON orders (created_at);
SQL
"$PGBIN_DIR/vacuumdb" -q -j "$JOBS" --analyze -h 127.0.0.1 -p "$SRC_PORT" -U postgres -d bench >"$LOG_DIR/vacuum.log" 2>&1 \
    || die "VACUUM ANALYZE failed (see $LOG_DIR/vacuum.log)"
psql_src -c "CHECKPOINT" >/dev/null
GEN_SECONDS="$(elapsed "$t0" "$(now)")"

SRC_DB_SIZE="$(psql_src -At -c "SELECT pg_database_size(current_database())")"
SRC_DB_SIZE_PRETTY="$(psql_src -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
SRC_TABLE_BYTES="$(psql_src -At -c "SELECT sum(pg_table_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")"
SRC_INDEX_BYTES="$(psql_src -At -c "SELECT sum(pg_indexes_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")"
log "source database 'bench': $SRC_DB_SIZE_PRETTY (generated in ${GEN_SECONDS}s)"
psql_src -c "SELECT c.relname AS table, c.reltuples::bigint AS rows, pg_size_pretty(pg_table_size(c.oid)) AS data, pg_size_pretty(pg_indexes_size(c.oid)) AS indexes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY pg_table_size(c.oid) DESC" >&2

# A signature of what a clone must contain: tables, indexes, constraints
# (with their definitions) and exact row counts.
SIGNATURE_SQL=$(cat <<'SQL'
WITH rels AS (
    SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, c.relkind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
      AND n.nspname NOT LIKE 'pg\_temp%'
), tabs AS (
    SELECT name || '=' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %s', name), false, true, '')))[1]::text AS item
    FROM rels WHERE relkind = 'r'
), idx AS (
    SELECT r.name || ':' || pg_get_indexdef(i.indexrelid) || ':' || i.indisvalid AS item
    FROM pg_index i JOIN rels r ON r.oid = i.indrelid
), cons AS (
    SELECT r.name || ':' || co.conname || ':' || pg_get_constraintdef(co.oid) || ':' || co.convalidated AS item
    FROM pg_constraint co JOIN rels r ON r.oid = co.conrelid
)
SELECT (SELECT count(*) FROM tabs) || ' tables, ' || (SELECT count(*) FROM idx) || ' indexes, '
       || (SELECT count(*) FROM cons) || ' constraints, '
       || (SELECT sum(split_part(item, '=', 2)::bigint) FROM tabs) || ' rows, md5 '
       || md5((SELECT string_agg(item, E'\n' ORDER BY item) FROM tabs) || (SELECT coalesce(string_agg(item, E'\n' ORDER BY item), '') FROM idx)
              || (SELECT coalesce(string_agg(item, E'\n' ORDER BY item), '') FROM cons))
SQL
)
SRC_SIGNATURE="$(psql_src -At -c "$SIGNATURE_SQL")"
log "source signature: $SRC_SIGNATURE"

# The subset methods copy 10 % of the customers (every tenth: a tenant-sized slice) with
# their orders; every other table stays empty. What their target must hold: these row counts,
# and every constraint of the source, validated.
SUBSET_WHERE="id % 10 = 0"
COUNTS_SQL=$(cat <<'SQL'
SELECT string_agg(format('%I.%I', n.nspname, c.relname) || '=' ||
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text,
       ',' ORDER BY format('%I.%I', n.nspname, c.relname))
       || '; ' || (SELECT count(*) FROM pg_constraint WHERE convalidated AND contype IN ('p', 'u', 'f')) || ' valid keys'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
SQL
)
SUBSET_EXPECTED="$(psql_src -At -c "
SELECT string_agg(format('%I.%I', n.nspname, c.relname) || '=' ||
       CASE c.relname WHEN 'customers' THEN (SELECT count(*) FROM customers WHERE $SUBSET_WHERE)
                      WHEN 'orders' THEN (SELECT count(*) FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE $SUBSET_WHERE))
                      ELSE 0 END,
       ',' ORDER BY format('%I.%I', n.nspname, c.relname))
       || '; ' || (SELECT count(*) FROM pg_constraint WHERE convalidated AND contype IN ('p', 'u', 'f')) || ' valid keys'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'")"
log "subset target must hold: $SUBSET_EXPECTED"

# Tables to copy for the raw pipe, largest first
mapfile -t RAW_TABLES < <(psql_src -At -c "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' ORDER BY pg_table_size(c.oid) DESC, 1")

# ---------------------------------------------------------------------------
# Methods
# ---------------------------------------------------------------------------
fresh_target() {
    psql_dst_admin -c "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench" -c "CHECKPOINT" >/dev/null
}

check_target() {   # prints "ok" or "MISMATCH"; details in $1; $2 = method
    local sig
    if [[ "$2" == *_subset ]]; then
        sig="$(psql_dst -At -c "$COUNTS_SQL" 2>>"$1" || echo "error")"
        echo "target rows: $sig" >>"$1"
        if [[ "$sig" == "$SUBSET_EXPECTED" ]]; then echo ok; else echo MISMATCH; fi
        return
    fi
    sig="$(psql_dst -At -c "$SIGNATURE_SQL" 2>>"$1" || echo "error")"
    echo "target signature: $sig" >>"$1"
    if [[ "$sig" == "$SRC_SIGNATURE" ]]; then echo ok; else echo MISMATCH; fi
}

# The raw binary pipe for one table: COPY TO STDOUT | TRUNCATE + COPY FREEZE
# in one transaction (the same WAL-skipping load pgcopydb does).
raw_copy_table() {
    set -o pipefail
    "$PGBIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$SRC_URL" -c "COPY $1 TO STDOUT (FORMAT binary)" \
    | "$PGBIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$DST_URL" \
        -c "BEGIN" -c "TRUNCATE ONLY $1" -c "COPY $1 FROM STDIN (FORMAT binary, FREEZE)" -c "COMMIT"
}
export -f raw_copy_table
export PGBIN_DIR SRC_URL DST_URL

# Each method sets R_WALL (and, where known, R_DATA, R_POST, R_SCHEMA, R_RSS)
# and returns non-zero on failure.
run_raw() {   # $1 = log file, $2 = work dir
    local lg="$1" dir="$2" t0 t1 t2 t3
    t0="$(now)"
    "$PGBIN_DIR/pg_dump" -Fc --schema-only -f "$dir/schema.dump" "$SRC_URL" >>"$lg" 2>&1 || return 1
    "$PGBIN_DIR/pg_restore" --section=pre-data --exit-on-error -d "$DST_URL" "$dir/schema.dump" >>"$lg" 2>&1 || return 1
    t1="$(now)"
    printf '%s\0' "${RAW_TABLES[@]}" | xargs -0 -n1 -P"$JOBS" bash -c 'raw_copy_table "$1"' _ >>"$lg" 2>&1 || return 1
    t2="$(now)"
    "$PGBIN_DIR/pg_restore" --section=post-data --exit-on-error -j "$JOBS" -d "$DST_URL" "$dir/schema.dump" >>"$lg" 2>&1 || return 1
    t3="$(now)"
    R_SCHEMA="$(elapsed "$t0" "$t1")"; R_DATA="$(elapsed "$t1" "$t2")"; R_POST="$(elapsed "$t2" "$t3")"
    R_WALL="$(elapsed "$t0" "$t3")"
}

run_pgdump() {
    local lg="$1" dir="$2" t0 t1 t2
    local z=(); [[ -n "$DUMP_COMPRESS" ]] && z=(-Z "$DUMP_COMPRESS")
    t0="$(now)"
    "$PGBIN_DIR/pg_dump" -Fd -j "$JOBS" "${z[@]}" -f "$dir/dump" "$SRC_URL" >>"$lg" 2>&1 || return 1
    t1="$(now)"
    "$PGBIN_DIR/pg_restore" -j "$JOBS" --exit-on-error -d "$DST_URL" "$dir/dump" >>"$lg" 2>&1 || return 1
    t2="$(now)"
    R_DUMP="$(elapsed "$t0" "$t1")"; R_RESTORE="$(elapsed "$t1" "$t2")"
    R_WALL="$(elapsed "$t0" "$t2")"
}

run_pgcopydb() {
    local lg="$1" dir="$2" t0 t1
    [[ -n "$PGCOPYDB" ]] || { echo "pgcopydb is not installed" >>"$lg"; return 1; }
    t0="$(now)"
    # setsid: on a fatal error pgcopydb 0.10 signals its whole process group,
    # which would otherwise include this script.
    setsid -w "$PGCOPYDB" clone --source "$SRC_URL" --target "$DST_URL" \
        --table-jobs "$JOBS" --index-jobs "$JOBS" --dir "$dir/pgcopydb" >>"$lg" 2>&1 </dev/null || return 1
    t1="$(now)"
    R_WALL="$(elapsed "$t0" "$t1")"
}

# restage with post-data strictly after the copy (--index-jobs 0): its data phase is the
# like-for-like comparison with the raw pipe's, which builds nothing while copying.
run_restage_serial() { restage_clone "$1" "$2" --no-rules --index-jobs 0; }

# restage copying every value unchanged, like the other methods.
run_restage() { restage_clone "$1" "$2" --no-rules; }

# restage restore of a snapshot of the source (taken once, untimed, --no-rules so the data is
# the source's): the CI fixtures path, against the raw pipe's data + index builds. Also times
# `restage reset` of a template holding the same data, and records the snapshot's size against
# a `pg_dump -Fc` archive of the same database.
SNAP_DIR=""; SNAP_BYTES=""; DUMPFC_BYTES=""; TEMPLATE_MADE=0
run_restage_restore() {
    local lg="$1" dir="$2" t0 t1
    local admin="postgres://postgres@127.0.0.1:$DST_PORT/postgres"
    [[ -x "$RESTAGE" ]] || { echo "restage binary not found or not executable: $RESTAGE" >>"$lg"; return 1; }
    if [[ -z "$SNAP_DIR" ]]; then
        SNAP_DIR="$WORK/snapshot"
        "$RESTAGE" snapshot --source "$SRC_URL" --no-rules --jobs "$JOBS" --quiet --out "$SNAP_DIR" >>"$lg" 2>&1 || return 1
        SNAP_BYTES="$(du -sb "$SNAP_DIR" | cut -f1)"
        DUMPFC_BYTES="$("$PGBIN_DIR/pg_dump" -Fc "$SRC_URL" 2>>"$lg" | wc -c)"
    fi
    t0="$(now)"
    "$RESTAGE" restore "$SNAP_DIR" --target "$DST_URL" --jobs "$JOBS" --quiet >>"$lg" 2>&1 || return 1
    t1="$(now)"
    R_WALL="$(elapsed "$t0" "$t1")"
    if [[ $TEMPLATE_MADE -eq 0 ]]; then
        "$RESTAGE" restore "$SNAP_DIR" --target "$admin" --as-template bench_tpl --clean --jobs "$JOBS" --quiet >>"$lg" 2>&1 || return 1
        TEMPLATE_MADE=1
    fi
    t0="$(now)"
    "$RESTAGE" reset bench_tpl --target-db bench_reset --target "$admin" >>"$lg" 2>&1 || return 1
    t1="$(now)"
    R_RESET="$(elapsed "$t0" "$t1")"
}

# The yardstick for a subset: the raw pipe copying exactly the subset's rows (it knows them
# from the data's shape; restage computes them from the --subset root and the foreign key).
raw_copy_query() {   # $1 = table, $2 = SELECT producing its rows
    set -o pipefail
    "$PGBIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$SRC_URL" -c "COPY ($2) TO STDOUT (FORMAT binary)" \
    | "$PGBIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -d "$DST_URL" \
        -c "BEGIN" -c "TRUNCATE ONLY $1" -c "COPY $1 FROM STDIN (FORMAT binary, FREEZE)" -c "COMMIT"
}
export -f raw_copy_query

run_raw_subset() {
    local lg="$1" dir="$2" t0 t1 t2 t3
    t0="$(now)"
    "$PGBIN_DIR/pg_dump" -Fc --schema-only -f "$dir/schema.dump" "$SRC_URL" >>"$lg" 2>&1 || return 1
    "$PGBIN_DIR/pg_restore" --section=pre-data --exit-on-error -d "$DST_URL" "$dir/schema.dump" >>"$lg" 2>&1 || return 1
    t1="$(now)"
    printf '%s\0' public.orders "SELECT * FROM public.orders WHERE customer_id IN (SELECT id FROM public.customers WHERE $SUBSET_WHERE)" \
        public.customers "SELECT * FROM public.customers WHERE $SUBSET_WHERE" \
        | xargs -0 -n2 -P"$JOBS" bash -c 'raw_copy_query "$1" "$2"' _ >>"$lg" 2>&1 || return 1
    t2="$(now)"
    "$PGBIN_DIR/pg_restore" --section=post-data --exit-on-error -j "$JOBS" -d "$DST_URL" "$dir/schema.dump" >>"$lg" 2>&1 || return 1
    t3="$(now)"
    R_SCHEMA="$(elapsed "$t0" "$t1")"; R_DATA="$(elapsed "$t1" "$t2")"; R_POST="$(elapsed "$t2" "$t3")"
    R_WALL="$(elapsed "$t0" "$t3")"
}

# restage computing the same subset from its root: the closure follows orders.customer_id down.
run_restage_subset() { restage_clone "$1" "$2" --no-rules --subset "public.customers: $SUBSET_WHERE"; }

# restage sanitizing customers and orders with benches/e2e/rules.toml (the rest kept).
run_restage_rules() {
    RESTAGE_KEY="restage-benchmark-key-not-secret" restage_clone "$1" "$2" --rules "$RULES_FILE"
}

# restage refresh of the environment whose live database is the target, with the rules of
# restage_rules (so its wall time against restage_rules is the overhead of the shadow, verify
# and swap), while an application polls the live database every 50 ms with a fresh psql
# session: the longest gap between two successful polls is the application's unavailability.
run_restage_refresh() {
    local lg="$1" dir="$2" t0 t1 rc=0 poller
    [[ -x "$RESTAGE" ]] || { echo "restage binary not found or not executable: $RESTAGE" >>"$lg"; return 1; }
    psql_dst_admin -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_owner') THEN CREATE ROLE bench_owner NOLOGIN; END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_app') THEN CREATE ROLE bench_app LOGIN; END IF;
        END \$\$" >>"$lg" 2>&1 || return 1
    # The live database the application uses, with something to query.
    psql_dst -c "CREATE TABLE IF NOT EXISTS pgbench_branches (bid int)" >>"$lg" 2>&1 || return 1
    cp "$RULES_FILE" "$dir/rules.toml"
    cat >"$dir/env.toml" <<'SPEC'
environment = "bench"
[source]
url_env = "BENCH_SOURCE_URL"
[target]
admin_url_env = "BENCH_ADMIN_URL"
[database]
name = "bench"
owner = "bench_owner"
app_role = "bench_app"
password_secret = "db_password"
[secrets.db_password]
generate = { bytes = 24 }
[[delivery]]
kind = "dotenv"
path = ".env.bench"
keys = { DB_PASSWORD = "db_password" }
[refresh]
rules = "rules.toml"
grace = "0s"
keep_previous = 0
SPEC
    (
        while :; do
            if "$PGBIN_DIR/psql" -X -q -At -d "$DST_URL" -c "SELECT 1 FROM pgbench_branches LIMIT 1" >/dev/null 2>&1
            then echo "ok $(now)"; else echo "err $(now)"; fi
            sleep 0.05
        done
    ) >"$dir/poll.txt" &
    poller=$!
    sleep 0.3
    t0="$(now)"
    BENCH_SOURCE_URL="$SRC_URL" BENCH_ADMIN_URL="postgres://postgres@127.0.0.1:$DST_PORT/postgres" \
        RESTAGE_KEY="restage-benchmark-key-not-secret" \
        "$RESTAGE" refresh --env "$dir/env.toml" --jobs "$JOBS" --quiet --report "$dir/report.json" \
        >>"$lg" 2>&1 </dev/null || rc=$?
    t1="$(now)"
    sleep 0.5
    kill "$poller" 2>/dev/null || true
    wait "$poller" 2>/dev/null || true
    cp "$dir/report.json" "${lg%.log}.json" 2>/dev/null || true
    if [[ $rc -ne 0 ]]; then echo "restage refresh exited with status $rc" >>"$lg"; return 1; fi
    R_WALL="$(elapsed "$t0" "$t1")"
    R_SWAP="$(json_step "$dir/report.json" swap)"
    # Longest time between two successful polls, and how many polls failed.
    R_GAP="$(awk '$1 == "ok" { if (last != "") { g = $2 - last; if (g > max) max = g } last = $2 } END { printf "%.3f", max }' "$dir/poll.txt")"
    R_POLL_ERRORS="$(grep -c '^err' "$dir/poll.txt" || true)"
    echo "polls: $(wc -l <"$dir/poll.txt"), failed: $R_POLL_ERRORS, longest gap between answers: ${R_GAP}s" >>"$lg"
}

json_step() {   # $1 = report.json, $2 = step name -> seconds (empty if absent/invalid)
    "$PGBIN_DIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "postgres://postgres@127.0.0.1:$DST_PORT/postgres" \
        -v report="$(cat "$1")" -v step="$2" 2>/dev/null <<'SQL' || true
SELECT (s ->> 'seconds')::float8 FROM jsonb_array_elements((:'report')::jsonb -> 'steps') AS s WHERE s ->> 'name' = :'step' LIMIT 1;
SQL
}

restage_clone() {
    local lg="$1" dir="$2" t0 t1 rc=0
    [[ -x "$RESTAGE" ]] || { echo "restage binary not found or not executable: $RESTAGE" >>"$lg"; return 1; }
    local extra=(); [[ -n "$RESTAGE_ARGS" ]] && read -r -a extra <<<"$RESTAGE_ARGS"
    extra+=("${@:3}")
    local timer=(); [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f '%M' -o "$dir/rss.txt")
    t0="$(now)"
    "${timer[@]}" "$RESTAGE" clone --source "$SRC_URL" --target "$DST_URL" --jobs "$JOBS" --json "${extra[@]}" \
        >"$dir/report.json" 2>>"$lg" </dev/null || rc=$?
    t1="$(now)"
    cp "$dir/report.json" "${lg%.log}.json" 2>/dev/null || true
    if [[ $rc -ne 0 ]]; then echo "restage exited with status $rc" >>"$lg"; return 1; fi
    R_WALL="$(elapsed "$t0" "$t1")"
    R_SCHEMA="$(json_step "$dir/report.json" schema)"
    R_DATA="$(json_step "$dir/report.json" data)"
    R_POST="$(json_step "$dir/report.json" post-data)"
    R_VERIFY="$(json_step "$dir/report.json" verify)"
    R_SUBSET="$(json_step "$dir/report.json" subset)"
    [[ -n "$R_DATA" ]] || echo "warning: no numeric 'data' step in the JSON report" >>"$lg"
    if [[ -s "$dir/rss.txt" ]]; then
        R_RSS="$(tail -n1 "$dir/rss.txt" | awk '/^[0-9]+$/ { printf "%.1f", $1 / 1024 }')"
    fi
}

declare -A RES   # RES[method:field] = space-separated values over runs
declare -A FAILED CHECKS
add() { RES["$1:$2"]="${RES["$1:$2"]:-} $3"; }

for ((run = 1; run <= RUNS; run++)); do
    for m in "${METHOD_LIST[@]}"; do
        lg="$LOG_DIR/$m-run$run.log"
        dir="$WORK/run-$m-$run"
        mkdir -p "$dir"
        fresh_target
        R_WALL=""; R_DATA=""; R_POST=""; R_SCHEMA=""; R_RSS=""; R_DUMP=""; R_RESTORE=""; R_VERIFY=""; R_RESET=""; R_SUBSET=""; R_SWAP=""; R_GAP=""; R_POLL_ERRORS=""
        log "run $run/$RUNS: $m"
        if "run_$m" "$lg" "$dir"; then
            chk="$(check_target "$lg" "$m")"
            CHECKS[$m]="${CHECKS[$m]:+${CHECKS[$m]} }$chk"
            [[ "$chk" == ok ]] || log "warning: $m run $run: target differs from source (see $lg)"
            add "$m" wall "$R_WALL"
            [[ -n "$R_SCHEMA" ]] && add "$m" schema "$R_SCHEMA"
            [[ -n "$R_DATA" ]] && add "$m" data "$R_DATA"
            [[ -n "$R_POST" ]] && add "$m" post "$R_POST"
            [[ -n "$R_VERIFY" ]] && add "$m" verify "$R_VERIFY"
            [[ -n "$R_SUBSET" ]] && add "$m" subset "$R_SUBSET"
            [[ -n "$R_DUMP" ]] && add "$m" dump "$R_DUMP"
            [[ -n "$R_RESTORE" ]] && add "$m" restore "$R_RESTORE"
            [[ -n "$R_RESET" ]] && add "$m" reset "$R_RESET"
            [[ -n "$R_SWAP" ]] && add "$m" swap "$R_SWAP"
            [[ -n "$R_GAP" ]] && add "$m" gap "$R_GAP"
            [[ -n "$R_POLL_ERRORS" ]] && add "$m" pollerrors "$R_POLL_ERRORS"
            [[ -n "$R_RSS" ]] && add "$m" rss "$R_RSS"
            log "run $run/$RUNS: $m: ${R_WALL}s${R_DATA:+ (data ${R_DATA}s)} [check: $chk]"
        else
            FAILED[$m]=1
            log "run $run/$RUNS: $m: FAILED (see $lg); last lines:"
            tail -n 5 "$lg" | sed 's/^/    /' >&2 || true
        fi
        rm -rf "$dir"
    done
done

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
stat_of() {   # $1 = median|min|max, values... -> number or empty
    local what="$1"; shift
    [[ $# -gt 0 ]] || return 0
    printf '%s\n' "$@" | sort -g | awk -v w="$what" '{ a[NR] = $1 } END {
        if (NR == 0) exit
        if (w == "min") { printf "%.3f", a[1]; exit }
        if (w == "max") { printf "%.3f", a[NR]; exit }
        if (NR % 2) printf "%.3f", a[(NR + 1) / 2]; else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
S() { local v=${RES["$1:$2"]:-}; [[ -n "$v" ]] || return 0; read -r -a arr <<<"$v"; stat_of "$3" "${arr[@]}"; }
ratio() { [[ -n "$1" && -n "$2" ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }' || true; }
fmt() { [[ -n "$1" ]] && printf '%.2f' "$1" || printf 'n/a'; }

label() {
    case "$1" in
        raw)      echo "raw binary pipe (COPY TO → COPY FROM)" ;;
        pgdump)   echo "pg_dump -Fd -j$JOBS + pg_restore -j$JOBS" ;;
        pgcopydb) echo "pgcopydb clone" ;;
        restage)  echo "restage clone" ;;
        restage_serial) echo "restage clone --index-jobs 0 (post-data after the copy)" ;;
        restage_rules) echo "restage clone --rules (customers and orders sanitized)" ;;
        restage_restore) echo "restage restore of a snapshot (CI fixtures)" ;;
        raw_subset) echo "raw binary pipe of the 10 % subset's rows alone" ;;
        restage_subset) echo "restage clone --subset (10 % of customers, their orders)" ;;
        restage_refresh) echo "restage refresh (--rules as above: shadow, verify, swap)" ;;
    esac
}

RAW_MED="$(S raw wall median)"
PGC_MED="$(S pgcopydb wall median)"
RAW_DATA_MED="$(S raw data median)"
RST_DATA_MED="$(S restage data median)"
RST_RSS_MED="$(S restage rss median)"
RST_RSS_MAX="$(S restage rss max)"
DATA_RATIO="$(ratio "$RST_DATA_MED" "$RAW_DATA_MED")"

PG_VERSION="$(psql_src -At -c "SELECT version()")"
PG_SHORT="$(psql_src -At -c "SHOW server_version")"
PGCOPYDB_VERSION="$([[ -n "$PGCOPYDB" ]] && "$PGCOPYDB" --version 2>/dev/null | head -n1 || echo "not installed")"
RESTAGE_VERSION="$([[ -x "$RESTAGE" ]] && "$RESTAGE" --version 2>/dev/null | head -n1 || echo "not available")"
NPROC="$(nproc)"
MEM_MB="$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)"
CPU_MODEL="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
KERNEL="$(uname -sr)"
GIT_REV="$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

{
    echo "# restage end-to-end clone benchmark ($STAMP)"
    echo
    echo "Source: pgbench scale $SCALE + $CUSTOMERS customers + $ORDERS orders = $SRC_DB_SIZE_PRETTY ($SRC_SIGNATURE)."
    echo "Runs per method: $RUNS (median reported); parallelism $JOBS for every method; identical target settings."
    echo
    echo "| method | median wall s | min | max | ÷ raw pipe | ÷ pgcopydb | target check |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    for m in "${METHOD_LIST[@]}"; do
        med="$(S "$m" wall median)"
        if [[ -z "$med" ]]; then
            echo "| $(label "$m") | FAILED (see log) | | | | | |"
            continue
        fi
        note=""; [[ -n "${FAILED[$m]:-}" ]] && note=" (some runs FAILED)"
        echo "| $(label "$m")$note | $(fmt "$med") | $(fmt "$(S "$m" wall min)") | $(fmt "$(S "$m" wall max)") | $(fmt "$(ratio "$med" "$RAW_MED")") | $(fmt "$(ratio "$med" "$PGC_MED")") | ${CHECKS[$m]:-} |"
    done
    echo
    if [[ -n "$RAW_MED" ]]; then
        echo "- raw pipe phases (median s): schema $(fmt "$(S raw schema median)"), data $(fmt "$RAW_DATA_MED"), post-data $(fmt "$(S raw post median)"), total $(fmt "$RAW_MED")"
    fi
    if [[ -n "$(S pgdump wall median)" ]]; then
        echo "- pg_dump / pg_restore (median s): dump $(fmt "$(S pgdump dump median)"), restore $(fmt "$(S pgdump restore median)")"
    fi
    if [[ -n "$(S restage wall median)" ]]; then
        echo "- restage phases (median s, from --json): schema $(fmt "$(S restage schema median)"), data $(fmt "$RST_DATA_MED"), post-data $(fmt "$(S restage post median)"), verify $(fmt "$(S restage verify median)")"
        echo "- restage data phase ÷ raw pipe data phase: $(fmt "$DATA_RATIO") (restage overlaps index builds with the copy; the raw pipe does not)"
        if [[ -n "$(S restage_serial data median)" ]]; then
            echo "- restage --index-jobs 0 data phase ÷ raw pipe data phase (like for like): $(fmt "$(ratio "$(S restage_serial data median)" "$RAW_DATA_MED")")"
        fi
        if [[ -n "$(S restage_rules wall median)" ]]; then
            echo "- sanitizing clone (--rules) wall ÷ pgcopydb clone wall: $(fmt "$(ratio "$(S restage_rules wall median)" "$PGC_MED")")"
            echo "- sanitizing clone data throughput ÷ restage without rules (= data time without ÷ with): $(fmt "$(ratio "$RST_DATA_MED" "$(S restage_rules data median)")")"
        fi
        echo "- restage peak RSS: $(fmt "$RST_RSS_MED") MB median, $(fmt "$RST_RSS_MAX") MB max"
    elif has_method restage; then
        echo "- restage: FAILED (see log)"
    fi
    if [[ -n "$(S restage_subset wall median)" ]]; then
        echo "- 10 % subset: restage clone --subset ÷ raw pipe of those rows alone (wall): $(fmt "$(ratio "$(S restage_subset wall median)" "$(S raw_subset wall median)")"); data phases: $(fmt "$(ratio "$(S restage_subset data median)" "$(S raw_subset data median)")") ; restage computing the closure (median s): $(fmt "$(S restage_subset subset median)")"
    fi
    if [[ -n "$(S restage_restore wall median)" ]]; then
        echo "- restage restore of the snapshot ÷ raw pipe (data + the same index builds): $(fmt "$(ratio "$(S restage_restore wall median)" "$RAW_MED")")"
        echo "- restage reset of the $SRC_DB_SIZE_PRETTY database from its template (median s): $(fmt "$(S restage_restore reset median)")"
        echo "- snapshot size: $((SNAP_BYTES / 1048576)) MB; pg_dump -Fc of the same database: $((DUMPFC_BYTES / 1048576)) MB (ratio $(fmt "$(ratio "$SNAP_BYTES" "$DUMPFC_BYTES")"))"
    fi
    if [[ -n "$(S restage_refresh wall median)" ]]; then
        echo "- restage refresh wall ÷ restage clone --rules wall (shadow, verify and swap overhead): $(fmt "$(ratio "$(S restage_refresh wall median)" "$(S restage_rules wall median)")")"
        echo "- application unavailability at the swap (longest gap between answers of a 50 ms poller, median s): $(fmt "$(S restage_refresh gap median)"); failed polls (median): $(fmt "$(S restage_refresh pollerrors median)"); swap step (median s): $(fmt "$(S restage_refresh swap median)")"
    fi
    echo
    echo "Machine: $NPROC CPUs${CPU_MODEL:+ ($CPU_MODEL)}, $MEM_MB MB RAM, $KERNEL; PostgreSQL $PG_SHORT; $PGCOPYDB_VERSION; restage: $RESTAGE_VERSION (repo $GIT_REV)."
    echo "Logs: ${LOG_DIR#"$REPO_ROOT"/}/"
} >"$OUT_BASE.md"

# JSON (hand-written: no jq/python needed)
jstr() { local s="$1"; s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//$'\t'/ }"; s="${s//$'\n'/ }"; printf '"%s"' "$s"; }
jnum() { [[ -n "$1" ]] && printf '%s' "$1" || printf 'null'; }
jarr() { local v=${RES["$1:$2"]:-} out="" x; for x in $v; do out+="${out:+, }$x"; done; printf '[%s]' "$out"; }
{
    echo "{"
    echo "  \"timestamp\": $(jstr "$STAMP"),"
    echo "  \"params\": { \"scale\": $SCALE, \"customers\": $CUSTOMERS, \"orders\": $ORDERS, \"runs\": $RUNS, \"jobs\": $JOBS, \"dump_compress\": $(jnum "$DUMP_COMPRESS") },"
    echo "  \"source\": { \"database_bytes\": $SRC_DB_SIZE, \"table_bytes\": $(jnum "$SRC_TABLE_BYTES"), \"index_bytes\": $(jnum "$SRC_INDEX_BYTES"), \"signature\": $(jstr "$SRC_SIGNATURE"), \"generate_seconds\": $GEN_SECONDS },"
    echo "  \"methods\": ["
    first=1
    for m in "${METHOD_LIST[@]}"; do
        med="$(S "$m" wall median)"
        [[ $first -eq 1 ]] || echo ","
        first=0
        printf '    { "method": %s, "label": %s, "failed": %s, "wall_seconds": %s, "median": %s, "min": %s, "max": %s, "ratio_to_raw": %s, "ratio_to_pgcopydb": %s' \
            "$(jstr "$m")" "$(jstr "$(label "$m")")" "$([[ -n "${FAILED[$m]:-}" ]] && echo true || echo false)" \
            "$(jarr "$m" wall)" "$(jnum "$med")" "$(jnum "$(S "$m" wall min)")" "$(jnum "$(S "$m" wall max)")" \
            "$(jnum "$(ratio "$med" "$RAW_MED")")" "$(jnum "$(ratio "$med" "$PGC_MED")")"
        for f in schema data post verify dump restore rss; do
            [[ -n "${RES["$m:$f"]:-}" ]] || continue
            case "$f" in rss) key=peak_rss_mb ;; post) key=post_data_seconds ;; *) key="${f}_seconds" ;; esac
            printf ', "%s": %s, "%s_median": %s' "$key" "$(jarr "$m" "$f")" "$key" "$(jnum "$(S "$m" "$f" median)")"
        done
        printf ', "target_checks": %s }' "$(jstr "${CHECKS[$m]:-}")"
    done
    echo
    echo "  ],"
    echo "  \"restage_data_over_raw_data\": $(jnum "$DATA_RATIO"),"
    echo "  \"restage_peak_rss_mb\": $(jnum "$RST_RSS_MAX"),"
    echo "  \"machine\": { \"nproc\": $NPROC, \"memory_mb\": $MEM_MB, \"cpu\": $(jstr "$CPU_MODEL"), \"kernel\": $(jstr "$KERNEL"), \"postgresql\": $(jstr "$PG_VERSION"), \"pgcopydb\": $(jstr "$PGCOPYDB_VERSION"), \"restage\": $(jstr "$RESTAGE_VERSION"), \"git_rev\": $(jstr "$GIT_REV") }"
    echo "}"
} >"$OUT_BASE.json"

cat "$OUT_BASE.md"
echo
echo "Written: ${OUT_BASE#"$REPO_ROOT"/}.md, ${OUT_BASE#"$REPO_ROOT"/}.json"
