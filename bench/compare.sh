#!/usr/bin/env bash
# The services against the database's own limit, in one run on one database: loads a scratch database
# (bench/seed.sql), starts release builds of the three services, runs `clinicctl bench` scenarios and
# pgbench at the same concurrency (the exact SQL the service runs, and the least SQL the work needs),
# and prints throughput, latency percentiles and the ratios. Also RSS of each service, idle and loaded.
#
#   bench/compare.sh           # ~5 minutes; DATABASE_URL if set (may CREATE DATABASE), else a throwaway cluster
#   bench/compare.sh --short   # about a minute; checks correctness only (CI runs this)
#
# Every scenario's exit code is checked: zero unexpected errors, exactly one winner per raced
# appointment or request (read back from the service). Timing is reported, never asserted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deploy/local/pg.sh
. "$root/deploy/local/pg.sh"
mode=full
[ "${1:-}" = "--short" ] && mode=short
if [ "$mode" = short ]; then
  appointments=${APPOINTMENTS:-150000} requests=${REQUESTS:-80000} warmup=1 duration=${DURATION:-2}
else
  appointments=${APPOINTMENTS:-1000000} requests=${REQUESTS:-600000} warmup=3 duration=${DURATION:-20}
fi
patients=64
password="bench password 1"
port_base=${BENCH_PORT_BASE:-56050}
reg_addr=127.0.0.1:$((port_base + 1)) appt_addr=127.0.0.1:$((port_base + 2)) notifier_addr=127.0.0.1:$((port_base + 3))
# A second registration/appointment pair on the same database without TLS: what TLS costs a reservation.
plain_reg_addr=127.0.0.1:$((port_base + 4)) plain_appt_addr=127.0.0.1:$((port_base + 5))

work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${url:-}" ] && psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
  stop_throwaway_pg
  rm -rf "$work" "${mail:-}"
}
trap cleanup EXIT INT TERM
log() { printf '== %s\n' "$*" >&2; }

# The database: $DATABASE_URL (a server where this may CREATE DATABASE), else a throwaway cluster.
use_pg_bin
if [ -z "${DATABASE_URL:-}" ]; then
  log "no DATABASE_URL: starting a throwaway PostgreSQL"
  start_throwaway_pg "$work/pg" "$((port_base + 9))"
fi
admin_url=$DATABASE_URL
db="clinic_bench_$$"
url="${DATABASE_URL%/*}/$db"

log "release build"
cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" \
  -p registration-service -p appointment-service -p notifier-service -p clinicctl
bin="${CARGO_TARGET_DIR:-$root/target}/release"

log "scratch database $db: migrations and seed ($appointments appointments, $requests pending requests)"
psql -q "$admin_url" -c "CREATE DATABASE $db"
export DATABASE_URL="$url"
"$bin/registration-service" gen-keypair --out-dir "$work/keys" >/dev/null
export JWT_PRIVATE_KEY_FILE="$work/keys/jwt_private.pem" JWT_PUBLIC_KEY_FILE="$work/keys/jwt_public.pem"
"$bin/notifier-service" gen-seal-keypair --out-dir "$work/keys" >/dev/null
export ACTIVATION_SEAL_KEY_FILE="$work/keys/seal_public.key" ACTIVATION_OPEN_KEY_FILE="$work/keys/seal_open.key"
# One role for everything on this scratch database, the superuser (the seed and pgbench write every
# schema); deployments and the system tests run each service as its own roles (create-db-roles).
export MIGRATION_DATABASE_URL="$url"
# Mutual TLS, as in production (each service its own certificate; clinicctl verifies with the CA).
"$bin/registration-service" gen-dev-certs --out-dir "$work/tls" 2>/dev/null
export TLS_CA_FILE="$work/tls/ca.pem" CLINIC_CA_FILE="$work/tls/ca.pem"
for s in registration-service appointment-service notifier-service; do "$bin/$s" migrate 2>/dev/null; done
printf '%s\n' "$password" | "$bin/registration-service" create-admin \
  --email bench-admin@bench.local --first-name Bench --last-name Admin >/dev/null
psql -q "$url" -v appointments="$appointments" -v patients="$patients" -v requests="$requests" \
  -f "$root/bench/seed.sql"
slots=$(psql -tAq "$url" -c "SELECT count(*) FROM appointment.bench_ids")

# E-mails as .eml files on tmpfs: creating files on this disk cost the notifier more CPU than all
# its database work (profiled), which is the disk's cost, not the services'.
mail=$(mktemp -d "$([ -d /dev/shm ] && echo /dev/shm || echo "$work")/clinic-bench-mail.XXXXXX")
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return; sleep 0.1; done; echo "no server on $1" >&2; exit 1; }
log "starting the services (release)"
# The load generator is one address logging in and registering at full speed: no rate limits.
export RATE_LIMIT_PER_ADDRESS_PER_MINUTE=100000000 LOGIN_ATTEMPTS_PER_ACCOUNT_PER_MINUTE=100000000
TLS_CERT_FILE="$work/tls/registration-service.pem" TLS_KEY_FILE="$work/tls/registration-service.key" \
  LISTEN_ADDR=$reg_addr RUST_LOG=warn \
  "$bin/registration-service" serve >"$work/registration.log" 2>&1 &
pids+=($!); reg_pid=$!
wait_port "$reg_addr"
"$bin/registration-service" mint-service-token --name appointment-service >"$work/appointment.token"
"$bin/registration-service" mint-service-token --name notifier-service >"$work/notifier.token"
TLS_CERT_FILE="$work/tls/appointment-service.pem" TLS_KEY_FILE="$work/tls/appointment-service.key" \
  LISTEN_ADDR=$appt_addr REGISTRATION_URL="https://$reg_addr" \
  SERVICE_TOKEN_FILE="$work/appointment.token" RUST_LOG=warn \
  "$bin/appointment-service" serve >"$work/appointment.log" 2>&1 &
pids+=($!); appt_pid=$!
TLS_CERT_FILE="$work/tls/notifier-service.pem" TLS_KEY_FILE="$work/tls/notifier-service.key" \
  LISTEN_ADDR=$notifier_addr REGISTRATION_URL="https://$reg_addr" \
  APPOINTMENT_URL="https://$appt_addr" SERVICE_TOKEN_FILE="$work/notifier.token" EML_DIR="$mail" RUST_LOG=warn \
  "$bin/notifier-service" serve >"$work/notifier.log" 2>&1 &
pids+=($!); notifier_pid=$!
# The plaintext pair (only for the TLS-cost rows).
env -u TLS_CA_FILE PLAINTEXT=true LISTEN_ADDR=$plain_reg_addr RUST_LOG=warn \
  "$bin/registration-service" serve >"$work/registration-plain.log" 2>&1 &
pids+=($!)
env -u TLS_CA_FILE PLAINTEXT=true LISTEN_ADDR=$plain_appt_addr REGISTRATION_URL="http://$plain_reg_addr" \
  SERVICE_TOKEN_FILE="$work/appointment.token" RUST_LOG=warn \
  "$bin/appointment-service" serve >"$work/appointment-plain.log" 2>&1 &
pids+=($!)
for a in "$appt_addr" "$notifier_addr" "$plain_reg_addr" "$plain_appt_addr"; do wait_port "$a"; done
export CLINIC_REGISTRATION_URL="https://$reg_addr" CLINIC_APPOINTMENT_URL="https://$appt_addr"

rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
rss_idle="registration $(rss $reg_pid) MiB, appointment $(rss $appt_pid) MiB, notifier $(rss $notifier_pid) MiB"

failures=0
results=()
json_field() { grep -o "\"$2\": [0-9.e+-]*" "$1" | head -1 | awk '{print $2}'; }
json_ms() { grep -A5 '"latency_ms"' "$1" | grep -o "\"$2\": [0-9.]*" | awk '{print $2}'; }

# service <scenario> <clients>: runs clinicctl bench, keeps its JSON, prints "tps p50 p99 max".
service() {
  local out="$work/$1-$2.json"
  if ! "$bin/clinicctl" bench "$1" -c "$2" --warmup "$warmup" --duration "$duration" --json \
      --cpu-of appointment="$appt_pid" --cpu-of registration="$reg_pid" --cpu-of notifier="$notifier_pid" \
      >"$out"; then
    # In a command substitution: a variable set here is lost, so the failure goes to a file.
    echo "clinicctl bench $1 -c $2" >>"$work/failed"
    log "FAILED: clinicctl bench $1 -c $2"; cat "$out" >&2
  fi
  local cpu
  cpu=$(grep -A1 '"cpu_ms_per_call"' "$out" | grep -o '"machine": [0-9.]*' | awk '{print $2}')
  echo "$(json_field "$out" throughput_per_second) $(json_ms "$out" p50) $(json_ms "$out" p99) $(json_ms "$out" max) ${cpu:-0}"
  # Where a call's CPU goes, for the profile in docs/performance.md.
  grep -A8 '"cpu_ms_per_call"' "$out" | tr -d ' \n' | sed 's/^/cpu per call /' >&2; echo >&2
}

busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# pgbench_run <script> <clients> <protocol> <schema>: prints "tps p50 p99 max" (latency in ms, from
# the per-transaction log).
pgbench_run() {
  local script=$1 clients=$2 protocol=$3 schema=$4 logs="$work/pgbench-$RANDOM"
  mkdir -p "$logs"
  local threads=$((clients < 2 ? 1 : 2))
  # pgbench's anchors append dummy events the notifier cannot render; it sleeps meanwhile, so both
  # sides are measured on the database alone.
  kill -STOP "$notifier_pid"
  PGOPTIONS="-c search_path=$schema" pgbench -n -M "$protocol" -c "$clients" -j "$threads" \
    -T "$warmup" -D slots="$slots" -f "$script" "$url" >/dev/null 2>&1 || true
  local out since b0
  since=$(psql -tAq "$url" -c "SELECT clock_timestamp()")
  b0=$(busy_ticks)
  if ! out=$(PGOPTIONS="-c search_path=$schema" pgbench -n -M "$protocol" -c "$clients" -j "$threads" \
      -T "$duration" -D slots="$slots" -l --log-prefix="$logs/tx" -f "$script" "$url" 2>&1); then
    echo "pgbench $script" >>"$work/failed"; log "FAILED: pgbench $script"; echo "$out" >&2
  fi
  local busy=$(( $(busy_ticks) - b0 ))
  # Its events are not the services' (the anchors' payloads cannot even be rendered): drop them, so
  # the notifier does not spend the next scenarios mailing or retrying them.
  psql -q "$url" -c "DELETE FROM appointment.outbox WHERE created_at >= '$since';
                     DELETE FROM registration.outbox WHERE created_at >= '$since'" >/dev/null
  kill -CONT "$notifier_pid"
  local tps txs
  tps=$(echo "$out" | awk '/^tps = / {print $3; exit}')
  txs=$(echo "$out" | awk '/actually processed/ {print $NF; exit}')
  cat "$logs"/tx* 2>/dev/null | awk '{print $3}' | sort -n | awk -v tps="$tps" -v busy="$busy" -v txs="${txs:-0}" '
    { v[NR] = $1 } END { cpu = txs > 0 ? busy * 10 / txs : 0; if (NR == 0) { print tps, 0, 0, 0, cpu; exit }
      printf "%s %.2f %.2f %.2f %.3f\n", tps, v[int(NR*0.5)+1]/1000, v[int(NR*0.99) < NR ? int(NR*0.99)+1 : NR]/1000, v[NR]/1000, cpu }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row() { results+=("$(printf '%-38s %5s  %8.0f %7.2f %7.2f %8.2f %9.3f' "$1" "$2" $3)"); }

log "reserve, 1 client (notifier paused, as during pgbench)"
kill -STOP "$notifier_pid"
s=$(service reserve-distinct 1); row "service ReserveAppointment" 1 "$s"
kill -CONT "$notifier_pid"
p=$(pgbench_run "$root/bench/reserve_service.sql" 1 prepared appointment); row "pgbench, the service's SQL" 1 "$p"
m=$(pgbench_run "$root/bench/reserve_min.sql" 1 simple public); row "pgbench, least SQL (reserve_min)" 1 "$m"
r1=("$(ratio "${s%% *}" "${p%% *}")" "$(ratio "${s%% *}" "${m%% *}")")
lat1=$(awk -v s="$(echo "$s" | awk '{print $2}')" -v p="$(echo "$p" | awk '{print $2}')" 'BEGIN { if (p > 0) printf "%.2f", s / p; else print "-" }')

log "reserve-distinct, 16 clients (with the notifier e-mailing every reservation, then paused)"
a=$(service reserve-distinct 16); row "service ReserveAppointment, e-mailing" 16 "$a"
kill -STOP "$notifier_pid"
s=$(service reserve-distinct 16); row "service ReserveAppointment" 16 "$s"
kill -CONT "$notifier_pid"
p=$(pgbench_run "$root/bench/reserve_service.sql" 16 prepared appointment); row "pgbench, the service's SQL" 16 "$p"
m=$(pgbench_run "$root/bench/reserve_min.sql" 16 simple public); row "pgbench, least SQL (reserve_min)" 16 "$m"
r16=("$(ratio "${s%% *}" "${p%% *}")" "$(ratio "${s%% *}" "${m%% *}")")
# What TLS costs a reservation: the TLS pair and the plaintext pair on the same database, alternated
# TLS, plaintext, plaintext, TLS at each concurrency so that drift (table growth, autovacuum) falls
# on both alike; each side's figure is the mean of its two runs.
log "reserve-distinct with and without TLS, 1 and 16 clients, alternated (notifier paused)"
kill -STOP "$notifier_pid"
plain() { CLINIC_REGISTRATION_URL="http://$plain_reg_addr" CLINIC_APPOINTMENT_URL="http://$plain_appt_addr" service "$@"; }
mean() { awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { printf "%.0f", (a + b) / 2 }'; }
tls_cost=""
for c in 1 16; do
  t1=$(service reserve-distinct "$c"); row "service ReserveAppointment, TLS (a)" "$c" "$t1"
  p1=$(plain reserve-distinct "$c"); row "service ReserveAppointment, plaintext (a)" "$c" "$p1"
  p2=$(plain reserve-distinct "$c"); row "service ReserveAppointment, plaintext (b)" "$c" "$p2"
  t2=$(service reserve-distinct "$c"); row "service ReserveAppointment, TLS (b)" "$c" "$t2"
  t=$(mean "$t1" "$t2") p=$(mean "$p1" "$p2")
  tls_cost+="$c client(s): $t tps with TLS, $p without ($(ratio "$t" "$p")x); "
done
kill -CONT "$notifier_pid"
rss_loaded="registration $(rss $reg_pid) MiB, appointment $(rss $appt_pid) MiB, notifier $(rss $notifier_pid) MiB"

log "approve-throughput, 16 clients"
kill -STOP "$notifier_pid"
s=$(service approve-throughput 16); row "service ApproveRegistrationRequest" 16 "$s"
kill -CONT "$notifier_pid"
# pgbench takes the requests after the last one decided.
next_pending() {
  psql -q "$url" -c "SELECT setval('registration.bench_request_seq', (SELECT max(b.n) FROM registration.bench_requests b
    JOIN registration.registration_requests r ON r.id = b.id WHERE r.status <> 'PENDING'))" >/dev/null
}
# A pgbench run that used up the pending requests measured empty updates from then on: fail it.
pending_left() {
  if [ "$(psql -tAq "$url" -c "SELECT (SELECT last_value FROM registration.bench_request_seq) > (SELECT max(n) FROM registration.bench_requests)")" = t ]; then
    echo "pgbench $1 ran out of the $requests pending requests" >>"$work/failed"; log "FAILED: pgbench $1 ran out of pending requests (raise REQUESTS)"
  fi
}
next_pending
p=$(pgbench_run "$root/bench/approve_service.sql" 16 prepared registration); row "pgbench, the service's SQL" 16 "$p"
pending_left approve_service.sql
next_pending
m=$(pgbench_run "$root/bench/approve_min.sql" 16 simple public); row "pgbench, least SQL (approve_min)" 16 "$m"
pending_left approve_min.sql
ra=("$(ratio "${s%% *}" "${p%% *}")" "$(ratio "${s%% *}" "${m%% *}")")

log "reserve-hot (64 patients per appointment), decide-race (16 admins per request)"
s=$(service reserve-hot 64); row "service reserve-hot (calls)" 64 "$s"
s=$(service decide-race 16); row "service decide-race (calls)" 16 "$s"
log "list-available (while reservations run), mixed"
s=$(service list-available 16); row "service ListAvailableAppointments" 16 "$s"
s=$(service mixed 16); row "service mixed (70% list, 30% reserve)" 16 "$s"

echo
echo "$(uname -n), $(nproc) cores, PostgreSQL $(psql -tAq "$url" -c 'SHOW server_version'); $slots appointments; ${duration}s measured after ${warmup}s warm-up"
printf '%-38s %5s  %8s %7s %7s %8s %9s\n' "measure" "conc" "tps" "p50 ms" "p99 ms" "max ms" "CPU ms/op"
printf '%s\n' "${results[@]}"
echo
echo "ratios (service / pgbench, same run): 1 client: ${r1[0]}x same SQL, ${r1[1]}x least SQL; p50 latency ${lat1}x pgbench's"
echo "                                      16 clients: ${r16[0]}x same SQL, ${r16[1]}x least SQL; approve: ${ra[0]}x same SQL, ${ra[1]}x least SQL"
echo "TLS (mutual between services, server-verified to clinicctl), reserve-distinct: $tls_cost"
echo "(ratios compare runs with the notifier paused; the 'e-mailing' row is the whole system at work;"
echo " CPU ms/op: busy CPU of the whole machine per call or transaction, load generator included)"
echo "RSS idle: $rss_idle"
echo "RSS after reserve load: $rss_loaded; at the end: registration $(rss $reg_pid) MiB, appointment $(rss $appt_pid) MiB, notifier $(rss $notifier_pid) MiB"
[ -f "$work/failed" ] && failures=$((failures + $(wc -l <"$work/failed")))
if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed (see above)" >&2
  exit 1
fi
