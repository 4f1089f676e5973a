// Offline checks of `helm template` output.
//   node validate-manifests.mjs TOOLS_DIR RENDERED.yaml WORKER_ENV CONVERTER_ENV GATEWAY_ENV
//        [ADAPTER_VALUES.yaml]
// TOOLS_DIR holds node_modules/ with kubernetes-models, @kubernetes-models/prometheus-operator
// and yaml (deploy/tools/install-tools.sh). WORKER_ENV / CONVERTER_ENV / GATEWAY_ENV are comma-separated
// RWKV_* names the binaries read (derived from their flag declarations by the caller).
// 1. Every document validates against the Kubernetes (or Prometheus Operator) OpenAPI schema.
// 2. Chart contracts: worker/converter/gateway env vars name real flags and RWKV_STORAGE_ROOT is set
//    and mounted; gRPC probes target the "grpc" port; terminationGracePeriodSeconds exceeds
//    preStop + RWKV_DRAIN_TIMEOUT; every worker pool has a headless Service selecting exactly
//    its pods; cuda pools request nvidia.com/gpu; HPAs and KEDA ScaledObjects point at an
//    existing Deployment without replicas, one each; worker HPAs scale on the queue metrics
//    (served by the prometheus-adapter rules in ADAPTER_VALUES) unless their mode is cpu.
//    KEDA objects have no offline schema: their fields are checked by hand.
// Exit 0 when clean, 1 with one line per problem otherwise.
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [tools, rendered, workerEnvArg = "", converterEnvArg = "", gatewayEnvArg = "",
  adapterValues = ""] = process.argv.slice(2);
if (!tools || !rendered) {
  console.error("usage: validate-manifests.mjs TOOLS_DIR RENDERED.yaml [WORKER_ENV] [CONVERTER_ENV] [GATEWAY_ENV] [ADAPTER_VALUES]");
  process.exit(2);
}
const modules = path.resolve(tools, "node_modules");
const YAML = createRequire(path.join(modules, "yaml", "package.json"))("yaml");

// Metric names the prometheus-adapter values snippet exposes (ADAPTER_VALUES, optional).
const adapterMetrics = adapterValues
  ? new Set((YAML.parse(readFileSync(adapterValues, "utf8")).rules?.custom ?? [])
    .map((r) => r.name?.as))
  : null;

const problems = [];
const fail = (where, msg) => problems.push(`${where}: ${msg}`);

function modelFile(apiVersion, kind) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return path.join(modules, "@kubernetes-models", "prometheus-operator", apiVersion, `${kind}.js`);
  }
  return path.join(modules, "kubernetes-models", apiVersion, `${kind}.js`);
}

// KEDA's CRDs have no offline schema package: the fields the chart renders, checked by hand.
function checkScaledObject(where, o) {
  if (o.kind !== "ScaledObject") return fail(where, "unexpected keda.sh kind");
  const s = o.spec ?? {};
  if (s.scaleTargetRef?.kind !== "Deployment" || !s.scaleTargetRef?.name) {
    fail(where, "scaleTargetRef is not a named Deployment");
  }
  for (const f of ["minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"]) {
    if (!Number.isInteger(s[f]) || s[f] < 0) fail(where, `${f} is not a non-negative integer`);
  }
  if (!(s.maxReplicaCount >= s.minReplicaCount)) fail(where, "maxReplicaCount < minReplicaCount");
  if (!Array.isArray(s.triggers) || s.triggers.length === 0) fail(where, "no triggers");
  for (const t of s.triggers ?? []) {
    const m = t.metadata ?? {};
    if (t.type !== "prometheus") fail(where, `trigger type ${t.type}`);
    if (!/^https?:\/\//.test(m.serverAddress ?? "")) fail(where, `serverAddress '${m.serverAddress}'`);
    if (typeof m.query !== "string" || !m.query) fail(where, "trigger without a query");
    if (typeof m.threshold !== "string" || !(Number(m.threshold) > 0)) {
      fail(where, `threshold '${m.threshold}' is not a positive number string`);
    }
  }
}

const docs = YAML.parseAllDocuments(readFileSync(rendered, "utf8"));
const objects = [];
for (const doc of docs) {
  if (doc.errors.length) {
    fail(rendered, `YAML error: ${doc.errors[0].message}`);
    continue;
  }
  const obj = doc.toJS();
  if (obj == null) continue;
  objects.push(obj);
}

// 1. Schema validation.
for (const obj of objects) {
  const where = `${obj.kind}/${obj.metadata?.name}`;
  if (!obj.apiVersion || !obj.kind) {
    fail(where, "missing apiVersion or kind");
    continue;
  }
  if (obj.apiVersion === "keda.sh/v1alpha1") {
    checkScaledObject(where, obj);
    continue;
  }
  const file = modelFile(obj.apiVersion, obj.kind);
  if (!existsSync(file)) {
    fail(where, `no schema for ${obj.apiVersion} ${obj.kind}`);
    continue;
  }
  const mod = await import(pathToFileURL(file).href);
  const Model = mod[obj.kind];
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(where, `schema: ${e.message.split("\n").slice(0, 4).join(" | ")}`);
  }
}

// 2. Chart contracts.
const workerEnv = new Set(workerEnvArg.split(",").filter(Boolean));
const converterEnv = new Set(converterEnvArg.split(",").filter(Boolean));
const gatewayEnv = new Set(gatewayEnvArg.split(",").filter(Boolean));
const byKind = (k) => objects.filter((o) => o.kind === k);
const deployments = byKind("Deployment");
const services = byKind("Service");
const seconds = (v) => {
  const m = /^(\d+(?:\.\d+)?)(s?)$/.exec(v ?? "");
  return m ? Number(m[1]) : NaN;
};
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

for (const d of deployments) {
  const where = `Deployment/${d.metadata.name}`;
  const component = d.metadata.labels?.["app.kubernetes.io/component"];
  const pod = d.spec.template.spec;
  if (!matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)) {
    fail(where, "selector does not match the pod template labels");
  }
  for (const c of pod.containers) {
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    const grpcPort = (c.ports ?? []).find((p) => p.name === "grpc")?.containerPort;
    if (!grpcPort) fail(where, "container has no port named grpc");
    for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      const p = c[probe];
      if (!p?.grpc) fail(where, `${probe} is not a gRPC probe`);
      else if (p.grpc.port !== grpcPort) fail(where, `${probe} port ${p.grpc.port} != grpc port ${grpcPort}`);
    }
    const known = { worker: workerEnv, converter: converterEnv, gateway: gatewayEnv }[component] ?? null;
    if (known && known.size) {
      for (const name of Object.keys(env)) {
        if (name.startsWith("RWKV_") && !known.has(name)) {
          fail(where, `env ${name} is not a flag of rwkv-${component}`);
        }
      }
    }
    if (component === "worker" || component === "converter") {
      const root = env.RWKV_STORAGE_ROOT;
      if (!root) fail(where, "RWKV_STORAGE_ROOT not set");
      const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === root);
      const vol = mount && (pod.volumes ?? []).find((v) => v.name === mount.name);
      if (!vol?.persistentVolumeClaim) fail(where, `storage root ${root} is not a mounted claim`);
      if (env.RWKV_LISTEN !== `0.0.0.0:${grpcPort}`) fail(where, `RWKV_LISTEN ${env.RWKV_LISTEN} != grpc port`);
    }
    const drain = seconds(env.RWKV_DRAIN_TIMEOUT);
    if (Number.isNaN(drain)) fail(where, `RWKV_DRAIN_TIMEOUT '${env.RWKV_DRAIN_TIMEOUT}' is not N or Ns`);
    const preStop = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    const grace = pod.terminationGracePeriodSeconds;
    if (!(grace > preStop + drain)) {
      fail(where, `terminationGracePeriodSeconds ${grace} <= preStop ${preStop} + drain ${drain}`);
    }
    if (component === "worker") {
      const backend = env.RWKV_BACKEND;
      if (!["cpu", "cuda", "vulkan"].includes(backend)) fail(where, `RWKV_BACKEND '${backend}'`);
      if (backend === "cuda" && !c.resources?.limits?.["nvidia.com/gpu"]) {
        fail(where, "cuda pool without an nvidia.com/gpu limit");
      }
      if (!c.image.includes(`rwkv-worker-${backend}`)) {
        fail(where, `image ${c.image} does not match backend ${backend}`);
      }
      const svc = services.find((s) => s.metadata.name === d.metadata.name);
      if (!svc) fail(where, "no Service of the same name");
      else {
        if (svc.spec.clusterIP !== "None") fail(where, "worker Service is not headless");
        const selected = deployments.filter((o) => matches(svc.spec.selector, o.spec.template.metadata.labels));
        if (selected.length !== 1) fail(where, `its Service selects ${selected.length} Deployments`);
      }
    }
  }
}
const scaled = new Set();
for (const h of [...byKind("HorizontalPodAutoscaler"), ...byKind("ScaledObject")]) {
  const where = `${h.kind}/${h.metadata.name}`;
  const ref = h.spec.scaleTargetRef;
  const target = deployments.find((d) => d.metadata.name === ref.name);
  if (!target) fail(where, `target ${ref.name} missing`);
  else if (target.spec.replicas !== undefined) fail(where, "target Deployment also sets replicas");
  if (scaled.has(ref.name)) fail(where, `${ref.name} has two autoscalers`);
  scaled.add(ref.name);
  // Worker pools scale on queue signals unless they opt into the CPU fallback.
  const component = h.metadata.labels?.["app.kubernetes.io/component"];
  if (h.kind === "HorizontalPodAutoscaler" && component === "worker") {
    const mode = h.metadata.annotations?.["rwkv.dev/autoscaling-mode"];
    const names = (h.spec.metrics ?? []).map((m) => m.pods?.metric?.name ?? m.resource?.name);
    const want = mode === "cpu" ? ["cpu"]
      : ["rwkv_worker_waiting_requests", "rwkv_worker_slot_utilization_ratio"];
    if (names.join() !== want.join()) fail(where, `mode ${mode} scales on ${names.join()}`);
    if (adapterMetrics && mode !== "cpu") {
      for (const n of names) {
        if (!adapterMetrics.has(n)) fail(where, `${n} is not served by the prometheus-adapter rules`);
      }
    }
  }
}
for (const pvc of byKind("PersistentVolumeClaim")) {
  if (!pvc.spec.accessModes.includes("ReadWriteMany")) {
    fail(`PersistentVolumeClaim/${pvc.metadata.name}`, "not ReadWriteMany");
  }
}

if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
const kinds = {};
for (const o of objects) kinds[o.kind] = (kinds[o.kind] ?? 0) + 1;
console.log(`ok: ${objects.length} objects valid (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(", ")})`);
