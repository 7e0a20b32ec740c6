#!/usr/bin/env bash
# The local cluster without Docker. Uses $DATABASE_URL when set, otherwise a throwaway PostgreSQL
# started from the PostgreSQL binaries on this machine. Builds and runs the same service binaries the
# tests use, gives each service its own database roles (`create-db-roles`, connected as DATABASE_URL,
# which must be allowed to create roles), runs migrations as each migration role, serves as each runtime
# role, seeds demo data with `clinicctl seed`, prints endpoints, credentials and the two
# `clinicctl race …` lines, then each new e-mail's subject and recipient as it arrives.
# Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
state=${CLINIC_STATE_DIR:-$root/target/local-cluster}
reg_addr=${REGISTRATION_ADDR:-127.0.0.1:50051}
appt_addr=${APPOINTMENT_ADDR:-127.0.0.1:50052}
notifier_addr=${NOTIFIER_ADDR:-127.0.0.1:50053}
admin_email=${DEMO_ADMIN_EMAIL:-admin@clinic.local}
admin_password=${DEMO_ADMIN_PASSWORD:-demo admin password 1}
mkdir -p "$state"
# shellcheck source=deploy/local/pg.sh
. "$root/deploy/local/pg.sh"
pids=()
# Stops what it started and waits for it (services drain first; SIGKILL after 15 s), so that when this
# script has exited no process of the cluster runs and no port is held.
cleanup() {
  local rc=$? p _ alive
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 150); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  stop_throwaway_pg
  exit "$rc"
}
trap cleanup EXIT INT TERM

step() { printf '\n==> %s\n' "$*"; }

if [ -n "${CLINIC_BIN_DIR:-}" ]; then
  # Binaries built already (the system tests run this script so: cargo holds its build lock while
  # tests run, so a nested cargo build would wait for ever).
  bin=$CLINIC_BIN_DIR
else
  step "building the services and clinicctl (cargo build; the first build takes a few minutes)"
  cargo build --manifest-path "$root/Cargo.toml" -p registration-service -p appointment-service \
    -p notifier-service -p clinicctl
  bin="$root/target/debug"
fi

step "database"
if [ -z "${DATABASE_URL:-}" ]; then
  start_throwaway_pg "$state/pg" "${PG_PORT:-55432}"
fi
echo "database: ${DATABASE_URL%%\?*}" | sed -E 's#//[^@]*@#//***@#'

step "database roles and migrations"
# DATABASE_URL (the throwaway cluster's superuser, or yours) only makes the roles. Each service gets a
# migration role <svc>_owner (owns its schema, runs its migrations) and a runtime role <svc>_app (its
# schema's rows, nothing else) that it serves as; their passwords are new at every start.
admin_db_url=$DATABASE_URL
unset DATABASE_URL
role_url() { local rest=${admin_db_url#*://}; echo "${admin_db_url%%://*}://$1:$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')@${rest#*@}"; }
declare -A db_url
for svc in registration appointment notifier; do
  migration_url=$(role_url "${svc}_owner") runtime_url=$(role_url "${svc}_app")
  ADMIN_DATABASE_URL=$admin_db_url MIGRATION_DATABASE_URL=$migration_url DATABASE_URL=$runtime_url \
    "$bin/$svc-service" create-db-roles
  MIGRATION_DATABASE_URL=$migration_url "$bin/$svc-service" migrate
  db_url[$svc]=$runtime_url
done

step "keys"
[ -f "$state/keys/jwt_private.pem" ] || "$bin/registration-service" gen-keypair --out-dir "$state/keys"
export JWT_PRIVATE_KEY_FILE="$state/keys/jwt_private.pem" JWT_PUBLIC_KEY_FILE="$state/keys/jwt_public.pem"
# Activation tokens are sealed for the notifier: registration-service gets the public half only.
[ -f "$state/keys/seal_open.key" ] || "$bin/notifier-service" gen-seal-keypair --out-dir "$state/keys" >/dev/null
# TLS everywhere, mutual between the services: a dev CA and one certificate per service; each service
# is given only its own key. Clients (clinicctl, grpcurl) verify the servers with ca.pem.
[ -f "$state/tls/ca.pem" ] || "$bin/registration-service" gen-dev-certs --out-dir "$state/tls" 2>/dev/null
export TLS_CA_FILE="$state/tls/ca.pem"
printf '%s\n' "$admin_password" | DATABASE_URL=${db_url[registration]} "$bin/registration-service" create-admin \
  --email "$admin_email" --first-name Demo --last-name Admin >/dev/null 2>&1 || true

wait_port() { for _ in $(seq 50); do (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return; sleep 0.2; done; }

step "starting registration-service on $reg_addr"
# Every demo caller is this machine: the per-address limit is raised so `race appointment` (registering,
# activating and signing in 64 patients) fits; the per-account login limit stays as in production.
DATABASE_URL=${db_url[registration]} LISTEN_ADDR=$reg_addr \
  TLS_CERT_FILE="$state/tls/registration-service.pem" TLS_KEY_FILE="$state/tls/registration-service.key" \
  RATE_LIMIT_PER_ADDRESS_PER_MINUTE=${RATE_LIMIT_PER_ADDRESS_PER_MINUTE:-6000} \
  ACTIVATION_SEAL_KEY_FILE="$state/keys/seal_public.key" "$bin/registration-service" serve >"$state/registration-service.log" 2>&1 &
pids+=($!)
wait_port "$reg_addr"

step "starting appointment-service on $appt_addr"
"$bin/registration-service" mint-service-token --name appointment-service --ttl-hours 720 >"$state/appointment-service.token"
DATABASE_URL=${db_url[appointment]} LISTEN_ADDR=$appt_addr REGISTRATION_URL="https://$reg_addr" \
  TLS_CERT_FILE="$state/tls/appointment-service.pem" TLS_KEY_FILE="$state/tls/appointment-service.key" \
  SERVICE_TOKEN_FILE="$state/appointment-service.token" "$bin/appointment-service" serve >"$state/appointment-service.log" 2>&1 &
pids+=($!)
wait_port "$appt_addr"

step "starting notifier-service on $notifier_addr (e-mail as .eml files in $state/mail)"
# E-mail is caught locally: without SMTP_HOST the notifier writes each message as an .eml file.
"$bin/registration-service" mint-service-token --name notifier-service --ttl-hours 720 >"$state/notifier-service.token"
DATABASE_URL=${db_url[notifier]} LISTEN_ADDR=$notifier_addr REGISTRATION_URL="https://$reg_addr" \
  APPOINTMENT_URL="https://$appt_addr" \
  TLS_CERT_FILE="$state/tls/notifier-service.pem" TLS_KEY_FILE="$state/tls/notifier-service.key" \
  SERVICE_TOKEN_FILE="$state/notifier-service.token" EML_DIR="$state/mail" \
  ACTIVATION_OPEN_KEY_FILE="$state/keys/seal_open.key" \
  ACTIVATION_BASE_URL="${ACTIVATION_BASE_URL:-http://localhost:8080/activate}" \
  "$bin/notifier-service" serve >"$state/notifier-service.log" 2>&1 &
pids+=($!)
wait_port "$notifier_addr"

# Demo data through the public API with clinicctl; the clinic admin by the operator command, which
# seed runs itself when that admin cannot sign in yet. Idempotent: a second start finds it all.
step "seeding demo data (clinicctl seed)"
clinic_admin_email=${DEMO_CLINIC_ADMIN_EMAIL:-clinic.admin@clinic.local}
ctl() {
  CLINIC_REGISTRATION_URL="https://$reg_addr" CLINIC_APPOINTMENT_URL="https://$appt_addr" \
    CLINIC_NOTIFIER_URL="https://$notifier_addr" CLINIC_CA_FILE="$TLS_CA_FILE" \
    CLINICCTL_TOKEN_FILE="$state/clinicctl.token" \
    "$bin/clinicctl" "$@"
}
# Its `create-clinic-admin` runs as registration-service's runtime role.
DATABASE_URL=${db_url[registration]} ctl seed --admin-email "$admin_email" --admin-password "$admin_password" \
  --clinic-admin-email "$clinic_admin_email" --registration-service-bin "$bin/registration-service" \
  --eml-dir "$state/mail"
printf '%s\n' "$admin_password" | ctl login --email "$admin_email" --password-stdin >/dev/null

cat <<INFO

registration-service  https://$reg_addr  (log: $state/registration-service.log)
appointment-service   https://$appt_addr  (log: $state/appointment-service.log)
notifier-service      https://$notifier_addr  (log: $state/notifier-service.log)
TLS                   dev CA $TLS_CA_FILE (mutual TLS between the services)
e-mails               $state/mail/*.eml
demo center admin     $admin_email / $admin_password
demo clinic admin     $clinic_admin_email / $admin_password
demo patients         patient-1@clinic.local, patient-2@clinic.local / demo patient password 1

the two races (exit code 0: exactly one winner and exactly one e-mail):
  export CLINIC_REGISTRATION_URL=https://$reg_addr CLINIC_APPOINTMENT_URL=https://$appt_addr CLINIC_NOTIFIER_URL=https://$notifier_addr
  export CLINIC_CA_FILE=$TLS_CA_FILE
  export CLINICCTL_TOKEN_FILE=$state/clinicctl.token    # signed in as $admin_email
  $bin/clinicctl race registration --admins 16
  $bin/clinicctl race appointment --patients 64 --clinic-admin-email $clinic_admin_email --clinic-admin-password '$admin_password' --eml-dir $state/mail

  grpcurl -cacert $TLS_CA_FILE $reg_addr list
  grpcurl -cacert $TLS_CA_FILE -d '{"email":"$admin_email","password":"$admin_password"}' \\
    $reg_addr clinic.registration.v1.RegistrationService/Login
  grpcurl -cacert $TLS_CA_FILE -H "authorization: Bearer \$TOKEN" -d '{"page_size":10}' \\
    $reg_addr clinic.registration.v1.RegistrationService/ListRegistrationRequests
  grpcurl -cacert $TLS_CA_FILE -H "authorization: Bearer \$TOKEN" -d '{"page_size":10}' \\
    $appt_addr clinic.appointment.v1.AppointmentService/ListAvailableAppointments

Ctrl-C stops the cluster. New e-mails appear below as they arrive.
INFO

# Each new .eml: its subject and recipient (the files already there count as seen).
watch_mail() {
  local seen="$state/mail/.seen" f nap
  mkdir -p "$state/mail"
  ls "$state/mail" >"$seen" 2>/dev/null || true
  # Stopped (SIGTERM) while it naps: the nap goes too, so nothing outlives the cluster.
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while true; do
    sleep 0.5 & nap=$!
    wait "$nap" || true
    for f in "$state/mail"/*.eml; do
      [ -e "$f" ] || continue
      grep -qxF "${f##*/}" "$seen" && continue
      echo "${f##*/}" >>"$seen"
      printf 'e-mail  %-60s %s\n' "$(sed -n 's/^Subject: //p' "$f" | head -1 | tr -d '\r')" \
        "$(sed -n 's/^To: //p' "$f" | head -1 | tr -d '\r')"
    done
  done
}
watch_mail &
pids+=($!)
wait
