"""Checks that docker-compose.yml and deploy/k8s/ run the service binaries the way they really work.

For every container built from a service image: the binary exists, the subcommand it runs exists
(`<bin> <subcommand> --help` succeeds), and every environment variable it sets is one that subcommand
reads (clap lists it as `[env: NAME...]` in that help) or one telemetry reads. Compose's `depends_on`
must name real services, `service_healthy` only services with a healthcheck, and
`service_completed_successfully` only one-shot jobs (migrations, database roles, key generation).

Least privilege in compose: each serving service connects as a role of its own that is not the one the
roles are made with, migrates as another, and each secret volume (a private key, a service token) is
mounted by the one service that uses it (and the one-shot job that writes it). In Kubernetes: `serve` and
`migrate` get their own role's database Secret (the admin's only the roles Job), and every pod runs as
non-root with no privilege escalation, a read-only root filesystem and no capabilities.

Shutdown: every serving container's grace period (compose `stop_grace_period`, Kubernetes
`terminationGracePeriodSeconds` after the preStop pause) is longer than its `SHUTDOWN_DRAIN_SECONDS`
(as set, or the binary's default), and the notifier's drain outlasts a send and its SENT write.

Usage: python check_cli.py <dir with the debug binaries> <repo root>
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml

SERVICES = ("registration-service", "appointment-service", "notifier-service")
# Read by clinic_common::telemetry, not by clap.
TELEMETRY_ENV = {"OTEL_EXPORTER_OTLP_ENDPOINT", "LOG_FORMAT", "RUST_LOG"}
ONE_SHOT = re.compile(r"(keys$|certs$|-migrate$|-db-roles$)")
# Secret volume -> the only long-running service that may mount it.
SECRET_VOLUMES = {
    "signing-key": "registration-service",
    "seal-key": "notifier-service",
    "appointment-token": "appointment-service",
    "notifier-token": "notifier-service",
    "tls-registration": "registration-service",
    "tls-appointment": "appointment-service",
    "tls-notifier": "notifier-service",
}

bin_dir, root = Path(sys.argv[1]), Path(sys.argv[2])
errors = []
checked = 0
help_cache = {}


def help_text(binary, subcommand):
    key = (binary, subcommand)
    if key not in help_cache:
        out = subprocess.run(
            [str(bin_dir / binary), subcommand, "--help"], capture_output=True, text=True
        )
        help_cache[key] = out.stdout if out.returncode == 0 else None
    return help_cache[key]


def check(where, binary, subcommand, env_names):
    global checked
    checked += 1
    if binary not in SERVICES:
        errors.append(f"{where}: unknown binary {binary}")
        return
    text = help_text(binary, subcommand)
    if text is None:
        errors.append(f"{where}: `{binary} {subcommand}` is not a subcommand")
        return
    for name in env_names:
        if name not in TELEMETRY_ENV and f"[env: {name}" not in text:
            errors.append(f"{where}: `{binary} {subcommand}` does not read {name}")


def help_default(binary, flag):
    """The default `<binary> serve --help` gives `--<flag>`, or None."""
    text = help_text(binary, "serve") or ""
    at = text.find(f"--{flag} ")
    if at < 0:
        return None
    block = re.split(r"\n\s+-(?:-|[a-zA-Z],)", text[at:], maxsplit=1)[0]
    m = re.search(r"\[default: ([^\]]+)\]", block)
    return m.group(1) if m else None


def check_grace(where, binary, env, grace, pause=0):
    """SIGKILL must come after the drain: `grace` seconds exceed SHUTDOWN_DRAIN_SECONDS plus `pause`
    (the preStop sleep). The notifier's drain must also outlast a send and its SENT write
    (2 x CLAIM_SECONDS + 1), or the binary refuses to start."""
    value = lambda name, flag: int(env.get(name) or help_default(binary, flag) or 0)
    drain = value("SHUTDOWN_DRAIN_SECONDS", "shutdown-drain-seconds")
    if grace <= drain + pause:
        errors.append(
            f"{where}: SIGKILL after {grace} s cuts the {drain} s drain"
            + (f" (after a {pause} s preStop pause)" if pause else "")
        )
    if binary == "notifier-service":
        claim = value("CLAIM_SECONDS", "claim-seconds")
        if drain <= 2 * claim + 1:
            errors.append(f"{where}: a {drain} s drain is not longer than 2 x CLAIM_SECONDS ({claim}) + 1")


def seconds(duration):
    """Compose's `stop_grace_period` ("130s", "2m10s") in seconds."""
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    if not m or not any(m.groups()):
        errors.append(f"compose: cannot read stop_grace_period {duration!r}")
        return 0
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


# --- docker-compose.yml --------------------------------------------------------------------------
compose = yaml.safe_load((root / "docker-compose.yml").read_text())
services = compose["services"]
for name, svc in services.items():
    target = (svc.get("build") or {}).get("target")
    if target:
        env = list((svc.get("environment") or {}).keys())
        if "entrypoint" in svc:
            # A shell script: every `<binary> <subcommand>` it runs.
            script = "\n".join(svc["entrypoint"])
            runs = re.findall(
                r"(?:^|\|\||&&|;|\bthen|\bdo)\s*(%s) ([a-z][a-z-]+)" % "|".join(SERVICES),
                script,
                re.M,
            )
            if not runs:
                errors.append(f"compose {name}: entrypoint runs no service binary")
            for binary, sub in runs:
                check(f"compose {name}", binary, sub, [])
            # The script's environment is shared: each name must be read by one of its commands.
            for n in env:
                if not any(f"[env: {n}" in (help_text(b, c) or "") for b, c in runs):
                    errors.append(f"compose {name}: no command of its script reads {n}")
        else:
            command = svc.get("command") or ["serve"]
            check(f"compose {name}", target, command[0], env)
            if command[0] == "serve":
                # Docker sends SIGKILL 10 s after SIGTERM unless told otherwise.
                grace = seconds(svc.get("stop_grace_period", "10s"))
                values = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
                check_grace(f"compose {name}", target, values, grace)
        test = (svc.get("healthcheck") or {}).get("test")
        if test:
            if test[:1] != ["CMD"] or len(test) < 3:
                errors.append(f"compose {name}: healthcheck is not [CMD, <binary>, healthcheck]")
            else:
                # It runs in the service's environment; of that, it reads LISTEN_ADDR and TLS.
                uses = [n for n in env if n == "LISTEN_ADDR" or n.startswith("TLS_")]
                check(f"compose {name} healthcheck", test[1], test[2], uses)
    for dep, cond in (svc.get("depends_on") or {}).items():
        condition = cond.get("condition")
        if dep not in services:
            errors.append(f"compose {name}: depends on unknown service {dep}")
        elif condition == "service_healthy" and "healthcheck" not in services[dep]:
            errors.append(f"compose {name}: waits for {dep} to be healthy, which has no healthcheck")
        elif condition == "service_completed_successfully" and not ONE_SHOT.search(dep):
            errors.append(f"compose {name}: waits for long-running {dep} to complete")
        elif condition == "service_started" and ONE_SHOT.search(dep):
            errors.append(f"compose {name}: starts before one-shot {dep} has completed")
    for port in svc.get("ports") or []:
        if not str(port).startswith("127.0.0.1:"):
            errors.append(f"compose {name}: port {port} is not bound to 127.0.0.1")

def url_user(url):
    m = re.match(r"^[a-z]+://([^:@/]+)[:@]", str(url))
    return m.group(1) if m else None


admin_users = {url_user((s.get("environment") or {}).get("ADMIN_DATABASE_URL")) for s in services.values()}
runtime_users = {}
for name, svc in services.items():
    env = svc.get("environment") or {}
    serving = "entrypoint" not in svc and (svc.get("command") or ["serve"])[0] == "serve"
    if serving and (svc.get("build") or {}).get("target"):
        user = url_user(env.get("DATABASE_URL"))
        if user is None or user in admin_users or user == "postgres":
            errors.append(f"compose {name}: serves as {user}, not as a runtime role of its own")
        elif user in runtime_users.values():
            errors.append(f"compose {name}: shares its database role {user}")
        runtime_users[name] = user
    for mount in svc.get("volumes") or []:
        volume = str(mount).split(":")[0]
        owner = SECRET_VOLUMES.get(volume)
        if owner and name != owner and not ONE_SHOT.search(name):
            errors.append(f"compose {name}: mounts {volume}, which only {owner} may")
migration_users = {
    url_user((s.get("environment") or {}).get("MIGRATION_DATABASE_URL"))
    for n, s in services.items()
    if n.endswith("-migrate")
}
if migration_users & set(runtime_users.values()):
    errors.append(f"compose: migrations and servers share roles {migration_users & set(runtime_users.values())}")

# --- deploy/k8s ------------------------------------------------------------------------------------
for path in sorted((root / "deploy" / "k8s").rglob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc.get("kind") not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        if not (pod.get("securityContext") or {}).get("runAsNonRoot"):
            errors.append(f"{path.relative_to(root)} {doc['metadata']['name']}: pod may run as root")
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c.get("securityContext") or {}
            if (
                sc.get("allowPrivilegeEscalation") is not False
                or sc.get("readOnlyRootFilesystem") is not True
                or "ALL" not in (sc.get("capabilities") or {}).get("drop", [])
            ):
                errors.append(
                    f"{path.relative_to(root)} {c['name']}: securityContext must forbid privilege "
                    "escalation, make the root filesystem read-only and drop ALL capabilities"
                )
            image = c["image"].split("/")[-1].split(":")[0]
            env = [e["name"] for e in c.get("env", [])]
            check(f"{path.relative_to(root)} {c['name']}", image, c["args"][0], env)
            if doc["kind"] == "Deployment" and c["args"][0] == "serve":
                # The kubelet runs preStop, then SIGTERM, and SIGKILLs once the grace period is over.
                pre_stop = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {})
                command = pre_stop.get("command") or []
                pause = int(command[1]) if command[:1] == ["sleep"] and len(command) == 2 else 0
                values = {e["name"]: str(e.get("value", "")) for e in c.get("env", [])}
                grace = pod.get("terminationGracePeriodSeconds", 30)
                check_grace(f"{path.relative_to(root)} {c['name']}", image, values, grace, pause)
            # Database credentials: the server its runtime role's, a migration its migration role's;
            # only the roles Job sees the admin's.
            secrets = {s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s}
            svc = image.removesuffix("-service")
            wrong = {
                "serve": {"db-admin", f"{svc}-db-migrate"},
                "migrate": {"db-admin", f"{svc}-db"},
            }.get(c["args"][0], set())
            if secrets & wrong:
                errors.append(f"{path.relative_to(root)} {c['name']}: `{c['args'][0]}` gets {secrets & wrong}")
            for probe in ("readinessProbe", "livenessProbe"):
                if doc["kind"] != "Deployment":
                    continue
                # The kubelet's grpc probe speaks plaintext only: the binary's own TLS healthcheck.
                command = ((c.get(probe) or {}).get("exec") or {}).get("command") or []
                label = f"{path.relative_to(root)} {c['name']} {probe}"
                if len(command) < 2 or command[0].split("/")[-1] != image:
                    errors.append(f"{label}: not an exec of {image} healthcheck")
                    continue
                uses = [n for n in env if n == "LISTEN_ADDR" or n.startswith("TLS_")]
                check(label, image, command[1], uses)

for e in errors:
    print(f"ERROR {e}")
print(f"{checked} container commands checked against the binaries' --help, {len(errors)} problems")
sys.exit(1 if errors or checked == 0 else 0)
