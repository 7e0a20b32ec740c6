#!/usr/bin/env bash
# The local cluster without Docker. Uses $DATABASE_URL when set, otherwise a throwaway PostgreSQL
# started from the PostgreSQL binaries on this machine. Builds and runs the same service binaries the
# tests use, runs migrations, seeds a demo admin, and prints endpoints, a token and grpcurl examples.
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
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_throwaway_pg
}
trap cleanup EXIT INT TERM

echo "building services…"
cargo build --quiet --manifest-path "$root/Cargo.toml" -p registration-service -p appointment-service -p notifier-service
bin="$root/target/debug"

if [ -z "${DATABASE_URL:-}" ]; then
  start_throwaway_pg "$state/pg" "${PG_PORT:-55432}"
fi
echo "database: ${DATABASE_URL%%\?*}" | sed -E 's#//[^@]*@#//***@#'

[ -f "$state/keys/jwt_private.pem" ] || "$bin/registration-service" gen-keypair --out-dir "$state/keys"
export JWT_PRIVATE_KEY_FILE="$state/keys/jwt_private.pem" JWT_PUBLIC_KEY_FILE="$state/keys/jwt_public.pem"
"$bin/registration-service" migrate
"$bin/appointment-service" migrate
"$bin/notifier-service" migrate
printf '%s\n' "$admin_password" | "$bin/registration-service" create-admin \
  --email "$admin_email" --first-name Demo --last-name Admin >/dev/null 2>&1 || true

wait_port() { for _ in $(seq 50); do (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return; sleep 0.2; done; }

LISTEN_ADDR=$reg_addr "$bin/registration-service" serve >"$state/registration-service.log" 2>&1 &
pids+=($!)
wait_port "$reg_addr"

"$bin/registration-service" mint-service-token --name appointment-service >"$state/appointment-service.token"
LISTEN_ADDR=$appt_addr REGISTRATION_URL="http://$reg_addr" SERVICE_TOKEN_FILE="$state/appointment-service.token" \
  "$bin/appointment-service" serve >"$state/appointment-service.log" 2>&1 &
pids+=($!)
wait_port "$appt_addr"

# E-mail is caught locally: without SMTP_HOST the notifier writes each message as an .eml file.
"$bin/registration-service" mint-service-token --name notifier-service >"$state/notifier-service.token"
LISTEN_ADDR=$notifier_addr REGISTRATION_URL="http://$reg_addr" APPOINTMENT_URL="http://$appt_addr" \
  SERVICE_TOKEN_FILE="$state/notifier-service.token" EML_DIR="$state/mail" \
  ACTIVATION_BASE_URL="${ACTIVATION_BASE_URL:-http://localhost:8080/activate}" \
  "$bin/notifier-service" serve >"$state/notifier-service.log" 2>&1 &
pids+=($!)
wait_port "$notifier_addr"

service_token=$("$bin/registration-service" mint-service-token --name operator --ttl-days 1)

# Demo clinic with its admin, seeded through the public API (needs grpcurl).
clinic_admin_email=${DEMO_CLINIC_ADMIN_EMAIL:-clinic.admin@clinic.local}
if command -v grpcurl >/dev/null 2>&1; then
  login() { grpcurl -plaintext -d "{\"email\":\"$1\",\"password\":\"$admin_password\"}" "$reg_addr" \
    clinic.registration.v1.RegistrationService/Login | sed -n 's/.*"accessToken": "\(.*\)".*/\1/p'; }
  center_token=$(login "$admin_email")
  clinic_id=$(grpcurl -plaintext -H "authorization: Bearer $center_token" \
      -d '{"name":"Demo Clinic","address":"Bulevar 1","city":"Novi Sad","time_zone":"Europe/Belgrade"}' \
      "$appt_addr" clinic.appointment.v1.AppointmentService/CreateClinic 2>/dev/null \
    | sed -n 's/.*"id": "\(.*\)".*/\1/p' | head -1)
  if [ -n "$clinic_id" ]; then
    printf '%s\n' "$admin_password" | "$bin/registration-service" create-clinic-admin --clinic-id "$clinic_id" \
      --email "$clinic_admin_email" --first-name Demo --last-name ClinicAdmin >/dev/null 2>&1 || true
  fi
fi
cat <<INFO

registration-service  grpc://$reg_addr   (log: $state/registration-service.log)
appointment-service   grpc://$appt_addr   (log: $state/appointment-service.log)
notifier-service      grpc://$notifier_addr   (log: $state/notifier-service.log)
e-mails               $state/mail/*.eml
demo center admin     $admin_email / $admin_password
demo clinic           ${clinic_id:-(already seeded or grpcurl missing)}, admin $clinic_admin_email / $admin_password

  grpcurl -plaintext $reg_addr list
  grpcurl -plaintext -d '{"email":"$admin_email","password":"$admin_password"}' \\
    $reg_addr clinic.registration.v1.RegistrationService/Login
  grpcurl -plaintext -H "authorization: Bearer \$TOKEN" -d '{"page_size":10}' \\
    $reg_addr clinic.registration.v1.RegistrationService/ListRegistrationRequests
  grpcurl -plaintext -H "authorization: Bearer \$TOKEN" -d '{"page_size":10}' \\
    $appt_addr clinic.appointment.v1.AppointmentService/ListAvailableAppointments

a service token (24 h) for internal calls:
$service_token

Ctrl-C stops the cluster.
INFO
wait
