"""The local cluster of deploy/local/run-local-cluster.sh as a test fixture: starts it with
--hold in a temporary work directory, reads <workdir>/run/cluster.env, and offers what the
end-to-end tests need (metrics scrapes, Prometheus queries, restarting a worker or the
converter on its old address). stop() ends it with SIGTERM and checks nothing is left running.
"""
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(REPO, "deploy", "local", "run-local-cluster.sh")


SKIPPED = 77  # ctest's SKIP_RETURN_CODE for these tests


def require(bin_dir, grpc_client=True):
    """Exits SKIPPED with the reason when something the tests need is missing."""
    missing = []
    for name in ("rwkv", "rwkv-converter", "rwkv-worker", "rwkv-gateway"):
        if not os.access(os.path.join(bin_dir, name), os.X_OK):
            missing.append(f"{bin_dir}/{name} (build it)")
    if grpc_client:
        if importlib.util.find_spec("grpc") is None:
            missing.append("python3-grpcio (scripts/install-deps.sh)")
        if not (shutil.which("protoc") and shutil.which("grpc_python_plugin")) and \
                importlib.util.find_spec("grpc_tools") is None:
            missing.append("protoc + grpc_python_plugin or python3-grpc-tools")
    if missing:
        print("SKIPPED: missing " + ", ".join(missing), file=sys.stderr)
        sys.exit(SKIPPED)


def bin_dir_from_argv(argv):
    """The value of --bin in argv (before unittest parses the rest), else build/bin."""
    for i, arg in enumerate(argv):
        if arg == "--bin" and i + 1 < len(argv):
            return os.path.abspath(argv[i + 1])
        if arg.startswith("--bin="):
            return os.path.abspath(arg.split("=", 1)[1])
    return os.path.join(REPO, "build", "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(what, predicate, timeout=60.0, interval=0.2):
    """Polls predicate() until it returns a true value, which is returned; raises after
    timeout seconds naming `what`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # a scrape failing while a process restarts
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                         + (f" (last error: {last_error})" if last_error else ""))


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def scrape(addr):
    """{metric line name with labels: value} of http://addr/metrics."""
    out = {}
    for line in http_get(f"http://{addr}/metrics").splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def metric_sum(samples, name):
    """Sum of every series of `name` (exact name, any labels)."""
    pattern = re.compile(re.escape(name) + r"(\{.*\})?$")
    return sum(v for k, v in samples.items() if pattern.match(k))


class LocalCluster:
    def __init__(self, bin_dir, workdir, workers=2, prometheus=True, drain_timeout="60s",
                 vulkan="off"):
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.prometheus_port = free_port() if prometheus else None
        cmd = ["bash", LAUNCHER, "--workers", str(workers), "--bin", bin_dir,
               "--workdir", workdir, "--hold", "-n", "16", "--drain-timeout", drain_timeout,
               "--vulkan", vulkan]
        self.drain_timeout = drain_timeout
        if prometheus:
            cmd += ["--prometheus-port", str(self.prometheus_port), "--scrape-interval", "1s"]
        else:
            cmd += ["--no-prometheus"]
        self.log_path = os.path.join(workdir, "launcher.log")
        os.makedirs(workdir, exist_ok=True)
        self._log = open(self.log_path, "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RWKV_")}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self.extra = []  # processes the tests started (restarted workers, converter)
        self._extra_logs = []
        env_path = os.path.join(workdir, "run", "cluster.env")
        deadline = time.monotonic() + 300
        while not os.path.exists(env_path):
            if self.proc.poll() is not None:
                raise AssertionError(f"launcher exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"cluster not up after 300 s:\n{self.log()}")
            time.sleep(0.2)
        self.env = {}
        with open(env_path) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                self.env[key] = " ".join(shlex.split(value))
        self.gateway = self.env["GATEWAY_ADDR"]
        self.gateway_metrics = self.env["GATEWAY_METRICS"]
        self.converter = self.env["CONVERTER_ADDR"]
        self.converter_pid = int(self.env["CONVERTER_PID"])
        self.workers = self.env["WORKER_ADDRS"].split()
        self.worker_metrics = self.env["WORKER_METRICS"].split()
        self.worker_pids = [int(p) for p in self.env["WORKER_PIDS"].split()]
        # The Vulkan pool's one worker; None without it.
        self.vulkan_worker = self.env.get("VULKAN_WORKER_ADDR") or None
        self.vulkan_worker_metrics = self.env.get("VULKAN_WORKER_METRICS") or None
        self.vulkan_worker_pid = int(self.env["VULKAN_WORKER_PID"]) \
            if self.env.get("VULKAN_WORKER_PID") else None
        self.vulkan_device = self.env.get("VULKAN_DEVICE") or None
        self.model = self.env["MODEL"]
        self.root = self.env["STORAGE_ROOT"]
        self.prometheus_url = self.env.get("PROMETHEUS_URL")
        # The launcher streams its demo completion after writing cluster.env; wait for it so
        # tests start from a quiet cluster.
        wait_until("the launcher's demo to finish",
                   lambda: "cluster running" in self.log(), timeout=120)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def healthy_workers(self):
        return metric_sum(scrape(self.gateway_metrics), "rwkv_gateway_healthy_workers")

    def worker_command(self, index, listen):
        return [os.path.join(self.bin_dir, "rwkv-worker"), "--model", self.model,
                "--storage-root", self.root, "--backend", "cpu", "--pool", "cpu",
                "--listen", listen, "--metrics-listen", self.worker_metrics[index],
                "--threads", "1", "--max-sequences", "4", "--max-queue", "16",
                "--drain-timeout", self.drain_timeout]

    def restart_worker(self, index):
        """Starts worker `index` again on its old gRPC and metrics addresses."""
        log = open(os.path.join(self.workdir, f"worker{index + 1}-restart.log"), "a")
        self._extra_logs.append(log)
        p = subprocess.Popen(self.worker_command(index, self.workers[index]), stdout=log,
                             stderr=subprocess.STDOUT)
        self.extra.append(p)
        self.worker_pids[index] = p.pid
        return p

    def restart_converter(self):
        log = open(os.path.join(self.workdir, "converter-restart.log"), "a")
        self._extra_logs.append(log)
        p = subprocess.Popen(
            [os.path.join(self.bin_dir, "rwkv-converter"), "--storage-root", self.root,
             "--listen", self.converter, "--metrics-listen", self.env["CONVERTER_METRICS"],
             "--drain-timeout", self.drain_timeout, "--max-concurrent-jobs", "1", "--threads-per-job", "2"],
            stdout=log, stderr=subprocess.STDOUT)
        self.extra.append(p)
        self.converter_pid = p.pid
        return p

    def prom_query(self, expr):
        """The value of an instant query with one sample, else None."""
        url = f"{self.prometheus_url}/api/v1/query?query={urllib.parse.quote(expr)}"
        body = json.loads(http_get(url))
        result = body["data"]["result"]
        if body["status"] != "success" or len(result) != 1:
            return None
        return float(result[0]["value"][1])

    def all_pids(self):
        pids = [self.proc.pid, self.converter_pid, *self.worker_pids]
        if self.vulkan_worker_pid is not None:
            pids.append(self.vulkan_worker_pid)
        for key in ("GATEWAY_PID",):
            pids.append(int(self.env[key]))
        return pids + [p.pid for p in self.extra]

    def stop(self):
        """SIGTERM to the launcher (it drains and stops its processes) and to the processes the
        tests started; returns the launcher's exit status and the pids still alive after."""
        for p in self.extra:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait()
        for p in self.extra:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        leftovers = [pid for pid in getattr(self, "env", {}) and self.all_pids() if alive(pid)]
        for f in [self._log, *self._extra_logs]:
            f.close()
        return rc, leftovers
