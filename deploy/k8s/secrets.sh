#!/usr/bin/env bash
# Makes the run's Kubernetes Secrets from files (never commit them): the shared secret, a dev CA with a
# coordinator-role and a worker-role certificate (deploy/make-certs.sh), and the certificates' password.
#
#   export DISTRNN_TLS_PASSWORD=$(openssl rand -hex 16)
#   deploy/k8s/secrets.sh            # in the namespace kubectl points at
#   kubectl apply -f deploy/k8s/rbac.yaml -f deploy/k8s/coordinator.yaml -f deploy/k8s/worker.yaml   # + -f deploy/k8s/standby.yaml for a standby
#
# NOTE: not run in CI (no Kubernetes there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${DISTRNN_TLS_PASSWORD:?export DISTRNN_TLS_PASSWORD first}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl rand -hex 32 > "$work/cluster.secret"
"$here/../make-certs.sh" "$work/certs" coordinator:coordinator worker:worker
kubectl create secret generic distrnn-secret --from-file=cluster.secret="$work/cluster.secret"
kubectl create secret generic distrnn-tls \
  --from-file=ca.pem="$work/certs/ca.pem" \
  --from-file=coordinator.pfx="$work/certs/coordinator.pfx" \
  --from-file=worker.pfx="$work/certs/worker.pfx" \
  --from-literal=password="$DISTRNN_TLS_PASSWORD"
