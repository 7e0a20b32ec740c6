"""Checks deploy/k8s/network-policies.yaml against the calls the system makes, by evaluating the
NetworkPolicy rules (union of the policies selecting a pod; a flow needs the source's egress and the
destination's ingress) for every pair of endpoints and port:

- every call the manifests configure is allowed: each `*_URL` of a Deployment (to the pods its Service
  selects), DNS and PostgreSQL from every pod of ours, SMTP (`SMTP_PORT`) from the notifier, OTLP to the
  collector from every service, and clients (through the ingress controller) to the public services;
- every other flow to or from a pod of ours is denied: service to service beyond those calls, a Job to a
  service, anything to the notifier, any pod of another namespace to ours.

Usage: python check_netpol.py <repo root>
"""

import re
import sys
from pathlib import Path

import yaml

NS = "clinic"  # the namespace the manifests are applied to (they name none)
PUBLIC = {"registration-service", "appointment-service"}  # what clients call
PORTS_ELSEWHERE = [25, 443, 587, 4317, 5432]


class Endpoint:
    def __init__(self, name, ns=None, labels=None, ports=()):
        self.name, self.ns, self.labels, self.ports = name, ns, labels, list(ports)
        self.ns_labels = {"kubernetes.io/metadata.name": ns} if ns else None

    def ours(self):
        return self.ns == NS


root = Path(sys.argv[1])
docs = []
for path in sorted((root / "deploy" / "k8s").rglob("*.yaml")):
    docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
workloads = [d for d in docs if d["kind"] in ("Deployment", "Job")]

pods = {}
for w in workloads:
    spec = w["spec"]["template"]["spec"]
    ports = [
        (p["containerPort"], p.get("protocol", "TCP"))
        for c in spec["containers"]
        for p in c.get("ports", [])
    ]
    name = f'{w["kind"]} {w["metadata"]["name"]}'
    pods[name] = Endpoint(name, NS, w["spec"]["template"]["metadata"]["labels"], ports)
dns = Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, [(53, "UDP"), (53, "TCP")])
collector = Endpoint(
    "otel collector", "observability", {"app.kubernetes.io/name": "opentelemetry-collector"},
    [(4317, "TCP")],
)
ingress = Endpoint("ingress controller", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
stranger = Endpoint("a pod of another namespace", "default", {"app": "other"}, [(8080, "TCP")])
elsewhere = Endpoint("an address outside the cluster", ports=[(p, "TCP") for p in PORTS_ELSEWHERE])
endpoints = list(pods.values()) + [dns, collector, ingress, stranger, elsewhere]


def selects(selector, labels):
    if labels is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def peer_matches(peer, ep):
    if "ipBlock" in peer:
        return ep.labels is None and peer["ipBlock"]["cidr"] in ("0.0.0.0/0", "::/0")
    if ep.labels is None:
        return False
    ns_selector = peer.get("namespaceSelector")
    ns_ok = ep.ns == NS if ns_selector is None else selects(ns_selector, ep.ns_labels)
    return ns_ok and ("podSelector" not in peer or selects(peer["podSelector"], ep.labels))


def port_matches(ports, port, protocol):
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") == protocol and (
            "port" not in p or p["port"] <= port <= p.get("endPort", p["port"])
        ):
            return True
    return False


def admits(subject, direction, peer, port, protocol):
    """Whether the policies selecting `subject` (a pod of ours) admit this flow in `direction`."""
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    chosen = [
        p for p in policies
        if selects(p["spec"]["podSelector"], subject.labels)
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not chosen:
        return True
    return any(
        (not rule.get(peers_key) or any(peer_matches(x, peer) for x in rule[peers_key]))
        and port_matches(rule.get("ports"), port, protocol)
        for p in chosen
        for rule in p["spec"].get(rules_key) or []
    )


def allowed(src, dst, port, protocol):
    return (not src.ours() or admits(src, "Egress", dst, port, protocol)) and (
        not dst.ours() or admits(dst, "Ingress", src, port, protocol)
    )


# The calls the system makes.
expected = set()


def call(src, dst, port, protocol="TCP"):
    expected.add((src.name, dst.name, port, protocol))


for w in workloads:
    src = pods[f'{w["kind"]} {w["metadata"]["name"]}']
    call(src, dns, 53, "UDP")
    call(src, dns, 53, "TCP")
    call(src, elsewhere, 5432)
    if w["kind"] != "Deployment":
        continue
    call(src, collector, 4317)
    for c in w["spec"]["template"]["spec"]["containers"]:
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        for name, value in env.items():
            m = re.match(r"^https?://([a-z0-9-]+):(\d+)", value or "")
            if name.endswith("_URL") and m:
                service = services[m.group(1)]
                for dst in pods.values():
                    if selects({"matchLabels": service["spec"]["selector"]}, dst.labels):
                        call(src, dst, int(m.group(2)))
        if "SMTP_PORT" in env:
            call(src, elsewhere, int(env["SMTP_PORT"]))
for name in PUBLIC:
    service = services[name]
    for dst in pods.values():
        if selects({"matchLabels": service["spec"]["selector"]}, dst.labels):
            for p in service["spec"]["ports"]:
                call(ingress, dst, p["port"])

errors, checked = [], 0
for src in endpoints:
    for dst in endpoints:
        if not (src.ours() or dst.ours()) or src is dst and not src.ours():
            continue
        for port, protocol in dst.ports:
            checked += 1
            want = (src.name, dst.name, port, protocol) in expected
            if allowed(src, dst, port, protocol) != want:
                verb = "is denied" if want else "is allowed"
                errors.append(f"{src.name} -> {dst.name}:{port}/{protocol} {verb}")
if not any(p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") and not p["spec"].get("egress")
           and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"} for p in policies):
    errors.append("no default-deny policy (empty podSelector, Ingress and Egress, no rules)")

for e in errors:
    print(f"ERROR {e}")
print(f"{checked} flows checked against {len(policies)} NetworkPolicies, {len(expected)} calls, {len(errors)} problems")
sys.exit(1 if errors or not expected else 0)
