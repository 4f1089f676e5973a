// The multi-pool render says what its values ask for, pool by pool.
//   node assert-multipool.mjs TOOLS_DIR RENDERED.yaml VALUES.yaml RELEASE NAMESPACE
// Per pool of VALUES: a Deployment and a headless Service named <release>-rwkv-cluster-worker-<pool>;
// RWKV_BACKEND/RWKV_POOL/RWKV_MODEL; GPU resources (cuda: nvidia.com/gpu, others as given) and
// the node selector and tolerations of the values; the gateway's RWKV_WORKER_DNS names the
// pool's Service on the worker port; terminationGracePeriodSeconds = preStop + the pool's drain
// + the extra, and RWKV_DRAIN_TIMEOUT the pool's drain; the autoscaler the values choose (HPA on
// the two queue metrics with the values' targets, a KEDA ScaledObject with the same thresholds
// as decimals, or a CPU HPA) with the values' min/max.
// Exit 0 when all hold, 1 with one line per problem.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const [tools, rendered, valuesPath, release, namespace] = process.argv.slice(2);
if (!namespace) {
  console.error("usage: assert-multipool.mjs TOOLS_DIR RENDERED.yaml VALUES.yaml RELEASE NAMESPACE");
  process.exit(2);
}
const YAML = createRequire(path.join(path.resolve(tools, "node_modules"), "yaml", "package.json"))("yaml");
const objects = YAML.parseAllDocuments(readFileSync(rendered, "utf8")).map((d) => d.toJS()).filter(Boolean);
const values = YAML.parse(readFileSync(valuesPath, "utf8"));
const problems = [];
const expect = (ok, where, msg) => { if (!ok) problems.push(`${where}: ${msg}`); };
const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
// Key order does not matter (helm's toYaml sorts keys).
const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === "object"
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const same = (a, b) => JSON.stringify(canon(a ?? {})) === JSON.stringify(canon(b ?? {}));
const quantity = (q) => (String(q).endsWith("m") ? Number(String(q).slice(0, -1)) / 1000 : Number(q));

const w = values.worker;
const gateway = find("Deployment", `${release}-rwkv-cluster-gateway`);
const gatewayEnv = Object.fromEntries(gateway.spec.template.spec.containers[0].env.map((e) => [e.name, e.value]));
const dnsTargets = (gatewayEnv.RWKV_WORKER_DNS ?? "").split(",");

for (const pool of values.workerPools) {
  const name = `${release}-rwkv-cluster-worker-${pool.name}`;
  const where = `pool ${pool.name}`;
  const d = find("Deployment", name);
  const svc = find("Service", name);
  expect(d, where, `no Deployment ${name}`);
  expect(svc?.spec.clusterIP === "None", where, "no headless Service of the same name");
  if (!d) continue;
  const pod = d.spec.template.spec;
  const c = pod.containers[0];
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  expect(env.RWKV_BACKEND === pool.backend, where, `RWKV_BACKEND ${env.RWKV_BACKEND}`);
  expect(env.RWKV_POOL === pool.name, where, `RWKV_POOL ${env.RWKV_POOL}`);
  expect(env.RWKV_MODEL === pool.model, where, `RWKV_MODEL ${env.RWKV_MODEL}`);
  // Accelerators: cuda always gets a GPU; every limit the values give is rendered.
  const limits = c.resources?.limits ?? {};
  if (pool.backend === "cuda") expect(Number(limits["nvidia.com/gpu"]) >= 1, where, "no nvidia.com/gpu limit");
  for (const [k, v] of Object.entries(pool.resources?.limits ?? {})) {
    expect(String(limits[k]) === String(v), where, `limit ${k}=${limits[k]}, values say ${v}`);
  }
  expect(same(pod.nodeSelector, pool.nodeSelector), where, `nodeSelector ${JSON.stringify(pod.nodeSelector)}`);
  expect(same(pod.tolerations ?? [], pool.tolerations ?? []), where, "tolerations differ from the values");
  // The gateway resolves this pool's headless Service.
  const dns = `${name}.${namespace}.svc:${w.grpcPort}`;
  expect(dnsTargets.includes(dns), where, `gateway RWKV_WORKER_DNS lacks ${dns}`);
  // Drain timing.
  const drain = pool.drainTimeoutSeconds ?? w.drainTimeoutSeconds;
  const preStop = pool.preStopSleepSeconds ?? w.preStopSleepSeconds;
  expect(env.RWKV_DRAIN_TIMEOUT === `${drain}s`, where, `RWKV_DRAIN_TIMEOUT ${env.RWKV_DRAIN_TIMEOUT}`);
  expect(pod.terminationGracePeriodSeconds === preStop + drain + w.terminationGraceExtraSeconds, where,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds}`);
  // Autoscaler.
  const a = pool.autoscaling ?? {};
  const hpa = find("HorizontalPodAutoscaler", name);
  const so = find("ScaledObject", name);
  if (!a.enabled) {
    expect(!hpa && !so, where, "autoscaler rendered while autoscaling is off");
    expect(d.spec.replicas === pool.replicas, where, `replicas ${d.spec.replicas}`);
    continue;
  }
  const mode = a.mode ?? "queue";
  const waiting = a.waitingRequestsPerPod ?? "1";
  const slots = a.slotUtilization ?? "800m";
  if (mode === "keda") {
    expect(so && !hpa, where, "keda mode without exactly a ScaledObject");
    if (!so) continue;
    expect(so.spec.minReplicaCount === a.minReplicas && so.spec.maxReplicaCount === a.maxReplicas,
      where, "ScaledObject min/max differ from the values");
    const t = Object.fromEntries(so.spec.triggers.map((x) => [x.name, x.metadata]));
    expect(Number(t["waiting-requests"]?.threshold) === quantity(waiting), where, "waiting threshold");
    expect(Number(t["slot-utilization"]?.threshold) === quantity(slots), where, "slot threshold");
    for (const m of Object.values(t)) {
      expect(m.query.includes(`pool="${pool.name}"`) && m.query.includes(`namespace="${namespace}"`),
        where, `query '${m.query}' does not select the pool`);
      expect(m.serverAddress === (a.keda?.prometheusAddress ?? m.serverAddress), where, "serverAddress");
    }
    continue;
  }
  expect(hpa && !so, where, `${mode} mode without exactly an HPA`);
  if (!hpa) continue;
  expect(hpa.spec.minReplicas === a.minReplicas && hpa.spec.maxReplicas === a.maxReplicas, where,
    "HPA min/max differ from the values");
  const metrics = Object.fromEntries(hpa.spec.metrics.map((m) => [m.pods?.metric.name ?? m.resource.name,
    m.pods?.target.averageValue ?? m.resource.target.averageUtilization]));
  if (mode === "cpu") {
    expect(same(metrics, { cpu: a.targetCPUUtilizationPercentage }), where, `cpu HPA ${JSON.stringify(metrics)}`);
  } else {
    expect(same(metrics, { rwkv_worker_waiting_requests: String(waiting), rwkv_worker_slot_utilization_ratio: String(slots) }),
      where, `queue HPA ${JSON.stringify(metrics)}`);
    expect(hpa.spec.behavior?.scaleUp?.stabilizationWindowSeconds === 0, where, "scale-up is damped");
  }
}

if (problems.length) {
  for (const p of problems) console.error(`FAIL ${p}`);
  process.exit(1);
}
console.log(`ok: ${values.workerPools.length} pools as their values say`);
