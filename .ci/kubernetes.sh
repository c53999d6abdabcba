#!/usr/bin/env bash
# The Kubernetes manifests (deploy/kubernetes), checked by the tools a
# platform team would trust: kubernetes-validate (the API's schemas, strict)
# and checkov (every finding fixed or explained in an annotation); the
# PrometheusRule generated from the rules file; the Deployment's container
# started as the kubelet would (.ci/kubernetes_pod.py). Needs the release
# binary built.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/callboard
command -v kubernetes-validate >/dev/null 2>&1 && command -v checkov >/dev/null 2>&1 || \
  python3 -m pip install -q kubernetes-validate checkov 2>&1 | grep -v -i "warning\|dependency\|requires" || true
python3 tools/prometheus-rule.py --check
# Every resource file (the kustomizations and the generators' inputs are not
# resources). ServiceMonitor and PrometheusRule are the Operator's CRDs,
# which kubernetes-validate has no schema for: checked by checkov and by
# `kubectl kustomize` where there is one.
kubernetes-validate --strict --quiet \
  $(ls deploy/kubernetes/*.yaml | grep -v kustomization.yaml)
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize deploy/kubernetes > /tmp/callboard-kustomized.yaml
  kubernetes-validate --strict --quiet /tmp/callboard-kustomized.yaml
  kubectl kustomize deploy/kubernetes/monitoring >/dev/null
  echo "kubernetes: kustomize renders both kustomizations; the rendered objects validate"
fi
checkov -d deploy/kubernetes --framework kubernetes --quiet --compact --skip-download
python3 .ci/kubernetes_pod.py "$BIN" 18096
