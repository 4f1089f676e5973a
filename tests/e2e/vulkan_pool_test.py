#!/usr/bin/python3
"""The local cluster's Vulkan pool: deploy/local/run-local-cluster.sh --vulkan on starts a CPU
pool `cpu` (the gateway's --default-pool) and a pool `vulkan` of one `rwkv-worker --backend
vulkan`; a request naming `pool: vulkan` is served by the Vulkan worker, one naming no pool by a
CPU worker. Skips (exit 77) with the reason when the build has no Vulkan backend or `rwkv
devices` lists no Vulkan device (lavapipe from mesa-vulkan-drivers is one).

usage: vulkan_pool_test.py --bin BUILD/bin [unittest arguments]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import local_cluster  # noqa: E402
import rwkv_grpc  # noqa: E402
from local_cluster import metric_sum, scrape, wait_until  # noqa: E402

BIN_DIR = local_cluster.bin_dir_from_argv(sys.argv)
local_cluster.require(BIN_DIR)
import grpc  # noqa: E402  (python3-grpcio; checked above)

pb = None
cluster = None


def vulkan_device(bin_dir):
    """(the first Vulkan device `rwkv devices` lists, "") or (None, why there is none). It
    prints "vulkan 0: NAME [...]" per device, else "vulkan: WHY NOT"."""
    out = subprocess.run([os.path.join(bin_dir, "rwkv"), "devices"], capture_output=True,
                         text=True, timeout=120)
    why = "`rwkv devices` lists no Vulkan device"
    for line in out.stdout.splitlines():
        if line.startswith("vulkan 0: "):
            return line[len("vulkan 0: "):].split(" [")[0], ""
        if line.startswith("vulkan: "):
            why = line[len("vulkan: "):]
    return None, why


def setUpModule():
    global pb, cluster
    device, why = vulkan_device(BIN_DIR)
    if device is None:
        print(f"SKIPPED: {why}", file=sys.stderr)
        sys.exit(local_cluster.SKIPPED)
    pb = rwkv_grpc.load()
    workdir = tempfile.mkdtemp(prefix="rwkv-vulkan-pool-")
    cluster = local_cluster.LocalCluster(BIN_DIR, workdir, workers=1, prometheus=False,
                                         drain_timeout="30s", vulkan="on")


def tearDownModule():
    if cluster is None:
        return
    rc, leftovers = cluster.stop()
    log = cluster.log()
    if rc != 0 or leftovers or "after SIGTERM; killing it" in log:
        raise AssertionError(f"launcher exit {rc}, processes left running: {leftovers} (logs "
                             f"kept in {cluster.workdir}):\n{log[-3000:]}")
    shutil.rmtree(cluster.workdir, ignore_errors=True)


def generated_tokens(metrics_addr):
    return metric_sum(scrape(metrics_addr), "rwkv_worker_generated_tokens_total")


class VulkanPoolTest(unittest.TestCase):
    def setUp(self):
        self.channel = grpc.insecure_channel(cluster.gateway)
        self.stub = pb.inference_grpc.InferenceStub(self.channel)

    def tearDown(self):
        self.channel.close()

    def stream(self, max_tokens, pool=""):
        """Streams one greedy completion; returns (tokens streamed, final message)."""
        request = pb.inference.GenerateRequest(model=cluster.model, text="The GPU says",
                                               max_tokens=max_tokens, ignore_eos=True)
        request.sampling.temperature = 0.0
        if pool:
            request.placement.pool = pool
        tokens, final = 0, None
        for m in self.stub.Generate(request, timeout=300):
            tokens += len(m.token_ids)
            if m.HasField("final"):
                final = m.final
        self.assertIsNotNone(final, "the stream ended without a final message")
        return tokens, final

    def test_launcher_started_both_pools(self):
        self.assertIsNotNone(cluster.vulkan_worker, cluster.log())
        self.assertEqual(len(cluster.workers), 1)
        self.assertNotIn(cluster.vulkan_worker, cluster.workers)
        gateway = scrape(cluster.gateway_metrics)
        self.assertEqual(gateway.get('rwkv_gateway_healthy_workers{pool="cpu"}'), 1)
        self.assertEqual(gateway.get('rwkv_gateway_healthy_workers{pool="vulkan"}'), 1)

    def test_pool_vulkan_is_served_by_the_vulkan_worker(self):
        before = generated_tokens(cluster.vulkan_worker_metrics)
        tokens, final = self.stream(24, pool="vulkan")
        self.assertEqual(final.served_by, cluster.vulkan_worker)
        self.assertEqual(tokens, 24)
        self.assertEqual(final.finish_reason, pb.inference.FINISH_REASON_LENGTH)
        self.assertEqual(final.usage.generated_tokens, 24)
        # The Vulkan worker counted them.
        wait_until("the Vulkan worker to count 24 tokens",
                   lambda: generated_tokens(cluster.vulkan_worker_metrics) - before == 24,
                   timeout=30)

    def test_requests_naming_no_pool_go_to_the_default_cpu_pool(self):
        before = generated_tokens(cluster.vulkan_worker_metrics)
        for _ in range(4):
            tokens, final = self.stream(8)
            self.assertEqual(tokens, 8)
            self.assertIn(final.served_by, cluster.workers)
        _, final = self.stream(8, pool="cpu")
        self.assertIn(final.served_by, cluster.workers)
        self.assertEqual(generated_tokens(cluster.vulkan_worker_metrics), before)

    def test_an_unknown_pool_is_unavailable(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.stream(4, pool="no-such-pool")
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIn("no-such-pool", caught.exception.details())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    _, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
