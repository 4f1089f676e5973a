#!/usr/bin/python3
"""End-to-end tests on the local cluster (deploy/local/run-local-cluster.sh): converter,
gateway, two CPU workers and a real Prometheus scraping all of them, driven by clients written
in Python (Debian's python3-grpcio, stubs from proto/).

usage: e2e_cluster_test.py --bin BUILD/bin [unittest arguments]

The tests run in order on one cluster: the Python client, a soak checked against Prometheus,
then the faults (kill -9 and SIGTERM of a worker, kill -9 of the converter mid-job, after which
the interrupted job runs again to the end). Every wait
polls with a generous deadline; nothing asserts on time.
"""
import argparse
import concurrent.futures
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import local_cluster  # noqa: E402
import rwkv_grpc  # noqa: E402
from local_cluster import alive, metric_sum, scrape, wait_until  # noqa: E402

local_cluster.require(local_cluster.bin_dir_from_argv(sys.argv))
import grpc  # noqa: E402  (python3-grpcio; checked above)

BIN_DIR = None
# Tokens of the streams that are cut or drained: long enough to be running when the fault
# comes; the workers' drain timeout (120 s here) leaves room for slow machines.
LONG = 1000
pb = None
cluster = None

PROMPT_WORDS = ("the cluster streams tokens from recurrent workers while the gateway routes "
                "each request by expected wait and prometheus watches every process").split()


def setUpModule():
    global pb, cluster
    pb = rwkv_grpc.load()
    workdir = tempfile.mkdtemp(prefix="rwkv-e2e-")
    cluster = local_cluster.LocalCluster(BIN_DIR, workdir, workers=2,
                                         prometheus=shutil.which("prometheus") is not None,
                                         drain_timeout="120s")


def tearDownModule():
    if cluster is None:
        return
    rc, leftovers = cluster.stop()
    log = cluster.log()
    if rc != 0 or leftovers or "after SIGTERM; killing it" in log:
        raise AssertionError(f"launcher exit {rc}, processes left running: {leftovers}; "
                             f"every process must exit on SIGTERM (logs kept in "
                             f"{cluster.workdir}):\n{log[-3000:]}")
    shutil.rmtree(cluster.workdir, ignore_errors=True)


class Stream:
    """One Generate call on its own thread: counts tokens, keeps the final message or the
    error, and signals its first token."""

    def __init__(self, stub, request, timeout=300):
        self.tokens = 0
        self.final = None
        self.code = None
        self.details = ""
        self.first_token = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(stub, request, timeout))
        self.thread.start()

    def _run(self, stub, request, timeout):
        try:
            for m in stub.Generate(request, timeout=timeout):
                self.tokens += len(m.token_ids)
                if m.token_ids:
                    self.first_token.set()
                if m.HasField("final"):
                    self.final = m.final
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.code = e.code()
            self.details = e.details() or ""
        finally:
            self.first_token.set()

    def join(self, timeout=300):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "stream did not end"


def greedy_request(max_tokens, text="Once upon a time"):
    r = pb.inference.GenerateRequest(model=cluster.model, text=text, max_tokens=max_tokens,
                                     ignore_eos=True)
    r.sampling.temperature = 0.0
    return r


def worker_running(index):
    return metric_sum(scrape(cluster.worker_metrics[index]), "rwkv_worker_running_requests")


def busiest_worker():
    loads = [worker_running(i) for i in range(len(cluster.workers))]
    return max(range(len(loads)), key=lambda i: loads[i]), loads


class ClusterTest(unittest.TestCase):
    def setUp(self):
        self.channel = grpc.insecure_channel(cluster.gateway)
        self.stub = pb.inference_grpc.InferenceStub(self.channel)
        self.jobs = pb.jobs_grpc.JobsStub(self.channel)

    def tearDown(self):
        self.channel.close()

    def start_streams(self, n, max_tokens):
        streams = [Stream(self.stub, greedy_request(max_tokens, f"Stream {i} says")) for i in
                   range(n)]
        for s in streams:
            self.assertTrue(s.first_token.wait(120), "no first token")
        return streams

    def wait_healthy(self, n):
        wait_until(f"the gateway to see {n} healthy workers",
                   lambda: cluster.healthy_workers() == n, timeout=90)

    # --- a client from outside the C++ code base -------------------------------------------
    def test_1_python_client(self):
        client = [sys.executable, os.path.join(HERE, "python_client.py"), "--addr",
                  cluster.gateway]
        out = subprocess.run(client + ["generate", "--model", cluster.model, "-n", "24"],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(summary["finish_reason"], "FINISH_REASON_LENGTH")
        self.assertEqual(summary["streamed_tokens"], 24)
        self.assertEqual(summary["generated_tokens"], 24)
        self.assertIn(summary["served_by"], cluster.workers)

        out = subprocess.run(client + ["job", "--kind", "quantize", "--input",
                                       "models/demo-f16.gguf", "--output",
                                       "models/python-q4_0.gguf", "--type", "Q4_0"],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        job = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertEqual(job["state"], "JOB_STATE_SUCCEEDED", job)
        self.assertTrue(os.path.getsize(os.path.join(cluster.root, "models/python-q4_0.gguf")))

    # --- soak, checked against the processes' counters and Prometheus ---------------------
    def soak_request(self, rng, i):
        words = rng.choice([1, 3, 12, 40, 120])
        text = " ".join(rng.choice(PROMPT_WORDS) for _ in range(words))
        r = pb.inference.GenerateRequest(model=cluster.model, text=text,
                                         max_tokens=rng.randint(1, 48), request_id=f"soak-{i}")
        mode = i % 4
        if mode == 0:
            r.sampling.temperature = 0.0
            r.ignore_eos = True
        elif mode == 1:
            r.sampling.temperature = 0.9
            r.sampling.top_p = 0.9
            r.sampling.seed = i
        elif mode == 2:
            r.sampling.temperature = 1.2
            r.sampling.top_k = 20
            r.sampling.presence_penalty = 0.5
            r.sampling.frequency_penalty = 0.3
            r.stop.append("\n")
        else:
            r.sampling.temperature = 0.7
            r.sampling.min_p = 0.05
            r.sampling.repetition_penalty = 1.1
            r.stop_token_ids.extend([0, 11])
        return r

    def run_one(self, request):
        tokens, final = 0, None
        for m in self.stub.Generate(request, timeout=300):
            self.assertEqual(m.request_id, request.request_id)
            tokens += len(m.token_ids)
            if m.HasField("final"):
                final = m.final
        return request, tokens, final

    def test_2_soak_and_prometheus(self):
        if cluster.prometheus_url is None:
            self.skipTest("prometheus not installed (scripts/install-deps.sh)")
        before_workers = [scrape(a) for a in cluster.worker_metrics]
        base_tokens = sum(metric_sum(s, "rwkv_worker_generated_tokens_total")
                          for s in before_workers)
        base_worker_ttft = sum(metric_sum(s, "rwkv_worker_time_to_first_token_seconds_count")
                               for s in before_workers)
        base_gateway_ttft = metric_sum(scrape(cluster.gateway_metrics),
                                       "rwkv_gateway_time_to_first_token_seconds_count")

        rng = random.Random(15)
        requests = [self.soak_request(rng, i) for i in range(200)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(self.run_one, requests))

        self.assertEqual(len(results), 200)
        generated = 0
        for request, tokens, final in results:
            self.assertIsNotNone(final, f"{request.request_id}: no final message")
            reason = pb.inference.FinishReason.Name(final.finish_reason)
            if final.finish_reason == pb.inference.FINISH_REASON_LENGTH:
                self.assertEqual(final.usage.generated_tokens, request.max_tokens, reason)
                self.assertEqual(tokens, request.max_tokens, request.request_id)
            else:
                self.assertEqual(final.finish_reason, pb.inference.FINISH_REASON_STOP,
                                 f"{request.request_id}: {reason} {final.error_message}")
                self.assertLessEqual(final.usage.generated_tokens, request.max_tokens)
                self.assertLessEqual(tokens, final.usage.generated_tokens)
            self.assertIn(final.served_by, cluster.workers)
            generated += final.usage.generated_tokens

        # The processes' own counters grew by exactly what was streamed.
        after_tokens = sum(metric_sum(scrape(a), "rwkv_worker_generated_tokens_total")
                           for a in cluster.worker_metrics)
        self.assertEqual(after_tokens - base_tokens, generated)

        # Prometheus scraped every process while the traffic flowed, and its view agrees.
        want_up = len(cluster.workers) + 2
        wait_until("prometheus to see every process up", lambda: cluster.prom_query(
            'count(up{component=~"worker|gateway|converter"} == 1)') == want_up, timeout=60)
        wait_until("prometheus' generated-token sum to include the soak",
                   lambda: cluster.prom_query("sum(rwkv_worker_generated_tokens_total)") ==
                   base_tokens + generated, timeout=60)
        wait_until("prometheus' gateway TTFT count to equal the requests served",
                   lambda: cluster.prom_query(
                       "sum(rwkv_gateway_time_to_first_token_seconds_count)") ==
                   base_gateway_ttft + 200, timeout=60)
        wait_until("prometheus' worker TTFT count to equal the requests served",
                   lambda: cluster.prom_query(
                       "sum(rwkv_worker_time_to_first_token_seconds_count)") ==
                   base_worker_ttft + 200, timeout=60)
        busy = cluster.prom_query("max_over_time(sum(rwkv_gateway_streams_in_flight)[10m:1s])")
        self.assertIsNotNone(busy)
        self.assertGreater(busy, 0, "no scrape saw a stream in flight")

    # --- faults -------------------------------------------------------------------------
    def test_3_worker_kill9_mid_stream(self):
        streams = self.start_streams(6, LONG)
        victim, loads = busiest_worker()
        self.assertGreater(loads[victim], 0, loads)
        victim_addr = cluster.workers[victim]
        os.kill(cluster.worker_pids[victim], signal.SIGKILL)
        for s in streams:
            s.join()
        cut = 0
        for s in streams:
            if s.code == grpc.StatusCode.OK:
                self.assertEqual(s.final.finish_reason, pb.inference.FINISH_REASON_LENGTH)
                self.assertEqual(s.tokens, LONG)
                # A stream that had not started on the victim may have been retried elsewhere.
                self.assertIn(s.final.served_by, cluster.workers)
                self.assertNotEqual(s.final.served_by, victim_addr)
            else:
                self.assertEqual(s.code, grpc.StatusCode.UNAVAILABLE, s.details)
                self.assertIn(victim_addr, s.details)
                cut += 1
        self.assertGreater(cut, 0, "no stream was on the killed worker")
        self.wait_healthy(len(cluster.workers) - 1)
        _, tokens, final = self.run_one(greedy_request(8))
        self.assertEqual(tokens, 8)
        self.assertNotEqual(final.served_by, victim_addr)

        cluster.restart_worker(victim)
        self.wait_healthy(len(cluster.workers))
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(self.run_one, [greedy_request(24) for _ in range(8)]))
        self.assertIn(victim_addr, {final.served_by for _, _, final in results},
                      "the restarted worker got no request")

    def test_4_worker_sigterm_under_load(self):
        streams = self.start_streams(6, LONG)
        victim, loads = busiest_worker()
        self.assertGreater(loads[victim], 0, loads)
        pid = cluster.worker_pids[victim]
        os.kill(pid, signal.SIGTERM)
        for s in streams:
            s.join()
            self.assertEqual(s.code, grpc.StatusCode.OK, s.details)
            self.assertEqual(s.final.finish_reason, pb.inference.FINISH_REASON_LENGTH)
            self.assertEqual(s.tokens, LONG)
        wait_until("the drained worker to exit", lambda: not alive(pid), timeout=60)
        self.wait_healthy(len(cluster.workers) - 1)
        cluster.restart_worker(victim)
        self.wait_healthy(len(cluster.workers))

    def test_5_converter_kill9_mid_job(self):
        # A model large enough that quantizing it takes a while, written in the storage root.
        big = os.path.join(cluster.root, "models", "big-f16.gguf")
        subprocess.run([os.path.join(BIN_DIR, "rwkv"), "synth", "-o", big, "--n-embd", "1024",
                        "--n-layer", "8", "--vocab", "bytes", "--threads", "2"],
                       check=True, capture_output=True, timeout=600)

        def submit(src, dst, qtype):
            spec = pb.jobs.JobSpec(kind=pb.jobs.JOB_KIND_QUANTIZE, input=src, output=dst,
                                   quant_type=qtype, overwrite=True)
            return self.jobs.Submit(pb.jobs.SubmitJobRequest(spec=spec), timeout=30)

        def get(job_id):
            return self.jobs.Get(pb.jobs.GetJobRequest(id=job_id), timeout=10)

        running = submit("models/big-f16.gguf", "models/big-q4_k.gguf", "Q4_K_M")
        queued = submit("models/demo-f16.gguf", "models/after-restart-q8_0.gguf", "Q8_0")
        job = wait_until("the big job to be part-way", lambda: (
            lambda j: j if j.state == pb.jobs.JOB_STATE_RUNNING and
            0 < j.progress.tensors_done < j.progress.tensors_total else None)(get(running.id)),
            timeout=120, interval=0.05)
        self.assertEqual(get(queued.id).state, pb.jobs.JOB_STATE_QUEUED)
        os.kill(cluster.converter_pid, signal.SIGKILL)
        wait_until("the converter to die", lambda: not alive(cluster.converter_pid), timeout=30)
        self.assertFalse(os.path.exists(os.path.join(cluster.root, "models/big-q4_k.gguf")),
                         f"artifact present after a kill at {job.progress.tensors_done} tensors")

        cluster.restart_converter()
        # The restarted converter queues the interrupted job again and runs it from the start,
        # then the queued one. Through the gateway once the converter answers on its old address.
        def final(job_id):
            return wait_until(f"job {job_id} to end", lambda: (
                lambda j: j if j.state not in (pb.jobs.JOB_STATE_QUEUED, pb.jobs.JOB_STATE_RUNNING)
                else None)(get(job_id)), timeout=600, interval=0.5)

        rerun = final(running.id)
        self.assertEqual(rerun.state, pb.jobs.JOB_STATE_SUCCEEDED, rerun.error)
        self.assertEqual(rerun.attempts, 2)
        self.assertEqual(rerun.artifact.path, "models/big-q4_k.gguf")
        after = final(queued.id)
        self.assertEqual(after.state, pb.jobs.JOB_STATE_SUCCEEDED, after.error)
        self.assertEqual(after.attempts, 1)
        # Each artifact is whole: its size and SHA-256 are those the job reports, the sidecars
        # vouch for it and the manifest names the job that wrote it.
        for job in (rerun, after):
            path = os.path.join(cluster.root, job.artifact.path)
            self.assertEqual(os.path.getsize(path), job.artifact.size_bytes)
            with open(path, "rb") as f:
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), job.artifact.sha256)
            with open(path + ".sha256") as f:
                self.assertEqual(f.read().split()[0], job.artifact.sha256)
            with open(path + ".manifest.json") as f:
                manifest = json.load(f)
            self.assertEqual(manifest["sha256"], job.artifact.sha256)
            self.assertEqual(manifest["job_id"], job.id)
        # No partial file anywhere under models/ from the interrupted attempt.
        self.assertEqual(sorted(os.path.basename(p) for p in
                                glob.glob(os.path.join(cluster.root, "models", "big-q4_k*"))),
                         ["big-q4_k.gguf", "big-q4_k.gguf.manifest.json", "big-q4_k.gguf.sha256"])
        # The journal: every record parses, and the interrupted job's says what Get says.
        for path in glob.glob(os.path.join(cluster.root, "jobs", "*.json")):
            with open(path) as f:
                record = json.load(f)
            if record["id"] == running.id:
                self.assertEqual(record["state"], "succeeded")
                self.assertEqual(record["attempts"], 2)
                self.assertEqual(record["artifact"]["sha256"], rerun.artifact.sha256)
        self.assertTrue(os.path.exists(os.path.join(cluster.root, "jobs", running.id + ".json")))
        # Nothing is left in the converter's scratch space.
        self.assertEqual(glob.glob(os.path.join(cluster.root, ".tmp", "converter", "*")), [])
        # The CLI shows the attempts, through the gateway.
        shown = subprocess.run([os.path.join(BIN_DIR, "rwkv"), "client", "jobs", "get",
                                running.id, "--addr", cluster.gateway],
                               check=True, capture_output=True, text=True, timeout=60).stdout
        self.assertIn("state:    succeeded", shown)
        self.assertIn("attempts: 2", shown)


def main():
    global BIN_DIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    args, rest = parser.parse_known_args()
    BIN_DIR = os.path.abspath(args.bin)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
