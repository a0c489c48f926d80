#!/usr/bin/env bash
# Brings up what `make demo` and `make e2e` share: the kind cluster from kind-config.yaml (unless it exists),
# both images built and loaded, metrics-server, the CRD and the herd chart. Idempotent: rerun after changes.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER:-herd}
TAG=${IMAGE_TAG:-dev}
CONTEXT=kind-$CLUSTER
METRICS_SERVER_CHART_VERSION=${METRICS_SERVER_CHART_VERSION:-3.12.2}

die() { echo "error: $*" >&2; exit 1; }
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || die "$tool is not installed (make demo/e2e need docker, kind, kubectl, helm)"
done
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (docker info failed)"

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "== creating kind cluster $CLUSTER from kind-config.yaml"
  kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait 180s
fi
kubectl --context "$CONTEXT" cluster-info >/dev/null || die "kube context $CONTEXT does not answer"

echo "== building and loading images (tag $TAG, plus ${TAG}2 of the same shop image for rollout tests)"
"${MAKE:-make}" --no-print-directory images IMAGE_TAG="$TAG"
docker tag "herd-shop:$TAG" "herd-shop:${TAG}2"
kind load docker-image --name "$CLUSTER" "herd-operator:$TAG" "herd-shop:$TAG" "herd-shop:${TAG}2"

echo "== metrics-server (chart $METRICS_SERVER_CHART_VERSION; kind's kubelets have self-signed certificates)"
helm repo add metrics-server https://kubernetes-sigs.github.io/metrics-server/ --force-update >/dev/null
helm upgrade --install metrics-server metrics-server/metrics-server --version "$METRICS_SERVER_CHART_VERSION" \
  --kube-context "$CONTEXT" --namespace kube-system --set 'args={--kubelet-insecure-tls}' --wait --timeout 5m

echo "== herd (CRD applied first: helm never upgrades CRDs)"
kubectl --context "$CONTEXT" apply --server-side --force-conflicts -f crds/statelessservice.yaml
kubectl --context "$CONTEXT" wait --for condition=Established crd/statelessservices.herd.dev --timeout=60s
# The image id in a pod annotation restarts the operator whenever `make images` produced a new binary.
image_id=$(docker image inspect -f '{{.Id}}' "herd-operator:$TAG")
helm upgrade --install herd charts/herd --kube-context "$CONTEXT" --namespace herd-system --create-namespace \
  --set image.tag="$TAG" --set-string "podAnnotations.herd\.dev/image-id=${image_id#sha256:}" \
  --wait --timeout 3m
kubectl --context "$CONTEXT" -n herd-system rollout status deployment/herd --timeout=120s
