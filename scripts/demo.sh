#!/usr/bin/env bash
# `make demo`: the kind cluster with herd installed, then Redis, the JWT secret and the shop; prints its URL.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTEXT=kind-${KIND_CLUSTER:-herd}
URL=http://127.0.0.1:8080
k() { kubectl --context "$CONTEXT" --namespace default "$@"; }

scripts/kind-up.sh

echo "== Redis, the JWT secret, the shop"
k apply -f examples/redis.yaml
k get secret shop-jwt >/dev/null 2>&1 ||
  k create secret generic shop-jwt --from-literal=secret="$(head -c 32 /dev/urandom | base64)"
k apply -f examples/shop.yaml
# kind maps NodePort 30080 to the host's 127.0.0.1:8080 (kind-config.yaml).
k patch ssvc shop --type merge -p '{"spec":{"service":{"type":"NodePort","nodePort":30080}}}'
k rollout status deployment/redis --timeout=180s
k wait --for=condition=Available ssvc/shop --timeout=180s

for _ in $(seq 1 60); do
  if curl -fsS --max-time 2 "$URL/healthz" >/dev/null 2>&1; then
    echo
    echo "shop answering at $URL"
    curl -sS -i --max-time 2 "$URL/healthz"
    echo
    k get ssvc shop
    exit 0
  fi
  sleep 2
done
echo "error: the shop did not answer at $URL; see: kubectl describe ssvc shop" >&2
exit 1
