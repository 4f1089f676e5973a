#!/usr/bin/env bash
# Offline checks of helm/ and deploy/. One check per invocation, so ctest reports each alone:
#   deploy_test.sh helm        helm lint --strict + helm template (default and multi-pool values)
#   deploy_test.sh manifests   rendered manifests against the Kubernetes / Prometheus Operator
#                              schemas + chart contracts (validate-manifests.mjs), the
#                              multi-pool render against its values (assert-multipool.mjs)
#   deploy_test.sh prometheus  promtool check config / check rules / test rules
#   deploy_test.sh docker      dockerfilelint on deploy/docker/*.Dockerfile
#   deploy_test.sh scripts     bash -n on the deploy shell scripts (+ shellcheck when present)
# A missing tool prints "SKIP: ..." and exits 77 (ctest SKIP_RETURN_CODE). Tools are looked up
# in $RWKV_TOOLS_DIR (default build/tools, filled by deploy/tools/install-tools.sh), then PATH.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tools="${RWKV_TOOLS_DIR:-$repo/build/tools}"
chart="$repo/helm/rwkv-cluster"
values_multi="$repo/tests/deploy/values-multipool.yaml"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export HELM_CACHE_HOME="$tmp/helm/cache" HELM_CONFIG_HOME="$tmp/helm/config" \
  HELM_DATA_HOME="$tmp/helm/data"

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

find_helm() {
  if [ -x "$tools/helm/helm" ]; then echo "$tools/helm/helm"
  elif command -v helm >/dev/null 2>&1; then command -v helm
  else return 1; fi
}

# Renders the chart with each values set into $tmp/<name>.yaml.
render() {
  local helm="$1"
  "$helm" template rel "$chart" --namespace rwkv >"$tmp/default.yaml" 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; fail "helm template (default values)"; }
  "$helm" template rel "$chart" --namespace rwkv -f "$values_multi" >"$tmp/multipool.yaml" \
    2>"$tmp/err" || { cat "$tmp/err" >&2; fail "helm template (values-multipool.yaml)"; }
  # Autoscaling switched on with nothing else said: the default mode (queue signals).
  printf '%s\n' 'workerPools:' '  - name: cpu' '    backend: cpu' '    model: demo-q8_0' \
    '    replicas: 1' '    maxSequences: 16' '    maxQueue: 64' '    autoscaling: {enabled: true}' >"$tmp/values-autoscale.yaml"
  "$helm" template rel "$chart" --namespace rwkv -f "$tmp/values-autoscale.yaml" \
    >"$tmp/autoscale.yaml" 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; fail "helm template (autoscaling.enabled only)"; }
}

# RWKV_* names a server reads: its FlagSet declarations, upper-cased (services/common/flags.h).
flag_env() {
  # Joined into one line first: a call may break after its opening parenthesis.
  tr '\n' ' ' <"$1" | grep -o 'flags\.Add[A-Za-z]*( *"[a-z0-9-]*"' | sed 's/.*"\([a-z0-9-]*\)"$/\1/' |
    tr 'a-z-' 'A-Z_' | sed 's/^/RWKV_/' | paste -sd, -
}

check_helm() {
  local helm
  helm="$(find_helm)" || skip "helm not found (run deploy/tools/install-tools.sh)"
  echo "helm: $("$helm" version --short)"
  "$helm" lint --strict "$chart" || fail "helm lint --strict (default values)"
  "$helm" lint --strict "$chart" -f "$values_multi" || fail "helm lint --strict (multi-pool)"
  render "$helm"
  local kinds
  kinds="$(grep -h '^kind:' "$tmp/multipool.yaml" | sort | uniq -c | tr -s ' ' | paste -sd, -)"
  echo "multi-pool render:$kinds"
  # 3 pools + converter + gateway.
  [ "$(grep -c '^kind: Deployment' "$tmp/multipool.yaml")" -eq 5 ] || fail "expected 5 Deployments"
  [ "$(grep -c '^kind: HorizontalPodAutoscaler' "$tmp/multipool.yaml")" -eq 3 ] ||
    fail "expected 3 HorizontalPodAutoscalers (cpu, cuda-h100, gateway)"
  [ "$(grep -c '^kind: ScaledObject' "$tmp/multipool.yaml")" -eq 1 ] ||
    fail "expected 1 KEDA ScaledObject (vulkan)"
  grep -q '^kind: ScaledObject' "$tmp/default.yaml" && fail "ScaledObject rendered by default"
  # The default autoscaling mode scales workers on queue signals, never on CPU.
  grep -q 'name: rwkv_worker_waiting_requests' "$tmp/autoscale.yaml" ||
    fail "autoscaling.enabled alone does not scale on rwkv_worker_waiting_requests"
  grep -q 'name: rwkv_worker_slot_utilization_ratio' "$tmp/autoscale.yaml" ||
    fail "autoscaling.enabled alone does not scale on rwkv_worker_slot_utilization_ratio"
  grep -q 'averageUtilization' "$tmp/autoscale.yaml" && fail "default worker autoscaling uses CPU"
  grep -q '^kind: ServiceMonitor' "$tmp/multipool.yaml" || fail "monitoring.enabled renders no ServiceMonitor"
  grep -q '^kind: ServiceMonitor' "$tmp/default.yaml" && fail "ServiceMonitor rendered by default"
  grep -q 'name: rel-rwkv-cluster-gateway' "$tmp/default.yaml" || fail "gateway not rendered by default"
  grep -q '^kind: PodDisruptionBudget' "$tmp/default.yaml" || fail "no gateway PodDisruptionBudget"
  grep -q 'name: RWKV_WORKER_DNS' "$tmp/default.yaml" || fail "gateway without --worker-dns"
  # The schema must reject bad values.
  local bad
  for bad in "workerPools[0].backend=rocm" "workerPools[0].maxSequences=0" \
             "storage.persistence.accessModes={ReadWriteOnce}" "worker.grpcPort=0" \
             "workerPools[0].replica=1" "workerPools[0].autoscaling.mode=memory" \
             "workerPools[0].autoscaling.slotUtilization=high"; do
    if "$helm" template rel "$chart" --set "$bad" >/dev/null 2>&1; then
      fail "values.schema.json accepted --set $bad"
    fi
  done
  echo "PASS: helm lint --strict, helm template, schema rejects bad values"
}

check_manifests() {
  local helm
  helm="$(find_helm)" || skip "helm not found (run deploy/tools/install-tools.sh)"
  command -v node >/dev/null 2>&1 || skip "node not found"
  local m
  for m in kubernetes-models @kubernetes-models/prometheus-operator yaml; do
    [ -f "$tools/node_modules/$m/package.json" ] ||
      skip "$m not in $tools/node_modules (run deploy/tools/install-tools.sh)"
  done
  render "$helm"
  local wenv cenv genv
  wenv="$(flag_env "$repo/services/worker/main.cc")"
  cenv="$(flag_env "$repo/services/converter/main.cc")"
  genv="$(flag_env "$repo/gateway/main.cc")"
  [ -n "$wenv" ] && [ -n "$cenv" ] && [ -n "$genv" ] ||
    fail "no flags found in services/{worker,converter}/main.cc or gateway/main.cc"
  local adapter="$repo/deploy/prometheus/prometheus-adapter-values.yaml"
  for f in default multipool autoscale; do
    echo "$f:"
    node "$repo/tests/deploy/validate-manifests.mjs" "$tools" "$tmp/$f.yaml" "$wenv" "$cenv" \
      "$genv" "$adapter" || fail "manifests rendered with $f values"
  done
  node "$repo/tests/deploy/assert-multipool.mjs" "$tools" "$tmp/multipool.yaml" "$values_multi" \
    rel rwkv || fail "multi-pool render differs from its values"
  # The per-pool assertions must catch a render that differs from the values.
  sed 's/slotUtilization: "750m"/slotUtilization: "700m"/' "$values_multi" >"$tmp/values-off.yaml"
  if node "$repo/tests/deploy/assert-multipool.mjs" "$tools" "$tmp/multipool.yaml" \
       "$tmp/values-off.yaml" rel rwkv >/dev/null 2>&1; then
    fail "assert-multipool.mjs accepted a slot-utilization target the render does not have"
  fi
  # The validator must catch a broken manifest (guards against it silently passing).
  sed 's/^  replicas: 1$/  replicas: "one"/' "$tmp/default.yaml" >"$tmp/broken.yaml"
  if node "$repo/tests/deploy/validate-manifests.mjs" "$tools" "$tmp/broken.yaml" "$wenv" \
       "$cenv" >/dev/null 2>&1; then
    fail "validator accepted replicas: \"one\""
  fi
  echo "PASS: manifests valid"
}

check_prometheus() {
  command -v promtool >/dev/null 2>&1 || skip "promtool not found (apt-get install prometheus)"
  local d="$repo/deploy/prometheus"
  # file_sd target files are written by the launcher at run time; check against an empty set.
  cp "$d/prometheus.yml" "$d/rules.yml" "$d/rules_test.yml" "$tmp/"
  mkdir -p "$tmp/targets"
  echo '[]' >"$tmp/targets/worker1.json"
  cp "$tmp/targets/worker1.json" "$tmp/targets/converter.json"
  cp "$tmp/targets/worker1.json" "$tmp/targets/gateway.json"
  (cd "$tmp" && promtool check config prometheus.yml) || fail "promtool check config"
  promtool check rules "$d/rules.yml" || fail "promtool check rules"
  (cd "$d" && promtool test rules rules_test.yml) || fail "promtool test rules"
  # The chart's PrometheusRule ships the same file.
  cmp -s "$d/rules.yml" "$repo/helm/rwkv-cluster/files/rules.yml" ||
    fail "helm/rwkv-cluster/files/rules.yml differs from deploy/prometheus/rules.yml"
  # Every dashboard query must parse: wrap them as recording rules for promtool.
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$repo/deploy/grafana/rwkv-cluster.json" "$tmp/dashboard_rules.yml" <<'PY' ||
import json, sys
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
assert exprs, "no queries"
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "1m").replace("$pool", ".*").replace("$model", ".*")
        out.write(f"      - record: dashboard:q{i}\n        expr: {json.dumps(e)}\n")
print(f"grafana: {len(exprs)} queries in {len(dash['panels'])} panels")
PY
      fail "deploy/grafana/rwkv-cluster.json is not a dashboard"
    promtool check rules "$tmp/dashboard_rules.yml" >/dev/null ||
      fail "a query in deploy/grafana/rwkv-cluster.json does not parse"
  fi
  # The prometheus-adapter rules' queries, with the adapter's template fields filled in.
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$d/prometheus-adapter-values.yaml" "$tmp/adapter_rules.yml" <<'PY' ||
import json, re, sys
text = open(sys.argv[1]).read()
queries = re.findall(r"^\s*metricsQuery: '(.*)'$", text, re.M)
names = re.findall(r'^\s*as: "(.*)"$', text, re.M)
assert len(queries) == len(names) == 2, (queries, names)
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: adapter\n    rules:\n")
    for i, q in enumerate(queries):
        q = q.replace("<<.GroupBy>>", "namespace, pod").replace("<<.Series>>", names[i])
        q = q.replace("<<.LabelMatchers>>", 'namespace="rwkv", pod=~"w.*"')
        out.write(f"      - record: adapter:q{i}\n        expr: {json.dumps(q)}\n")
print(f"prometheus-adapter: {len(queries)} rules ({', '.join(names)})")
PY
      fail "deploy/prometheus/prometheus-adapter-values.yaml has not the two worker rules"
    promtool check rules "$tmp/adapter_rules.yml" >/dev/null ||
      fail "a prometheus-adapter metricsQuery does not parse"
  fi
  echo "PASS: promtool config, rules and rule tests"
}

check_docker() {
  local lint=""
  if [ -x "$tools/node_modules/.bin/dockerfilelint" ]; then lint="$tools/node_modules/.bin/dockerfilelint"
  elif command -v dockerfilelint >/dev/null 2>&1; then lint="$(command -v dockerfilelint)"
  else skip "dockerfilelint not found (run deploy/tools/install-tools.sh)"; fi
  command -v node >/dev/null 2>&1 || skip "node not found"
  local f n=0
  for f in "$repo"/deploy/docker/*.Dockerfile; do
    "$lint" "$f" >"$tmp/lint.out" 2>&1 || { cat "$tmp/lint.out" >&2; fail "dockerfilelint $f"; }
    grep -q '^USER 10001' "$f" || fail "$f does not run as uid 10001 (chart podSecurityContext)"
    n=$((n + 1))
  done
  for img in worker-cpu worker-cuda worker-vulkan converter gateway; do
    [ -f "$repo/deploy/docker/$img.Dockerfile" ] || fail "deploy/docker/$img.Dockerfile missing"
  done
  echo "PASS: dockerfilelint on $n Dockerfiles"
}

check_scripts() {
  local f
  for f in "$repo/deploy/local/run-local-cluster.sh" "$repo/deploy/local/cluster.sh" \
           "$repo/deploy/tools/install-tools.sh" "$repo/tests/deploy/deploy_test.sh" \
           "$repo/tests/deploy/images_test.sh"; do
    bash -n "$f" || fail "bash -n $f"
    [ -x "$f" ] || fail "$f is not executable"
  done
  "$repo/deploy/local/run-local-cluster.sh" --help >/dev/null || fail "run-local-cluster.sh --help"
  if command -v shellcheck >/dev/null 2>&1; then
    shellcheck -S warning "$repo/deploy/local/run-local-cluster.sh" "$repo/deploy/local/cluster.sh" \
      "$repo/tests/deploy/images_test.sh" \
      "$repo/deploy/tools/install-tools.sh" || fail "shellcheck"
  fi
  echo "PASS: scripts parse"
}

case "${1:-}" in
  helm) check_helm ;;
  manifests) check_manifests ;;
  prometheus) check_prometheus ;;
  docker) check_docker ;;
  scripts) check_scripts ;;
  *) echo "usage: $0 helm|manifests|prometheus|docker|scripts" >&2; exit 2 ;;
esac
