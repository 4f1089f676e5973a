#!/usr/bin/python3
"""deploy/local/run-local-cluster.sh leaves no process behind when a step fails or when it is
interrupted while starting, and stops a held cluster cleanly on Ctrl-C.

usage: launcher_test.py --bin BUILD/bin [unittest arguments]
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import local_cluster  # noqa: E402
from local_cluster import LAUNCHER, wait_until  # noqa: E402

BIN_DIR = None


def processes_mentioning(text):
    """Pids whose command line contains `text` (the test's own work directory)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


class LauncherTest(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="rwkv-launcher-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.log_path = os.path.join(self.workdir, "launcher.log")

    def launch(self, bin_dir, *extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RWKV_")}
        log = open(self.log_path, "w")
        self.addCleanup(log.close)
        return subprocess.Popen(
            ["bash", LAUNCHER, "--bin", bin_dir, "--workdir", self.workdir, "--no-prometheus",
             "--vulkan", "off", "-n", "4", *extra], stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def finish(self, proc):
        try:
            return proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise

    def test_failed_step_stops_what_was_started(self):
        # A gateway that cannot start: converter and workers are already running by then.
        fake = os.path.join(self.workdir, "bin")
        os.makedirs(fake)
        for name in ("rwkv", "rwkv-converter", "rwkv-worker"):
            os.symlink(os.path.join(BIN_DIR, name), os.path.join(fake, name))
        with open(os.path.join(fake, "rwkv-gateway"), "w") as f:
            f.write("#!/bin/sh\necho 'rwkv-gateway: cannot start' >&2\nexit 1\n")
        os.chmod(os.path.join(fake, "rwkv-gateway"), 0o755)
        proc = self.launch(fake)
        rc = self.finish(proc)
        self.assertNotEqual(rc, 0, self.log())
        self.assertIn("gateway exited early", self.log())
        self.assertIn("rwkv-worker 2 on", self.log())
        self.assertEqual(processes_mentioning(self.workdir), [])

    def test_interrupt_while_starting_and_while_held(self):
        proc = self.launch(BIN_DIR, "--hold")
        wait_until("the converter to start", lambda: "rwkv-converter on" in self.log(),
                   timeout=300)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        self.assertEqual(self.finish(proc), 130, self.log())
        self.assertEqual(processes_mentioning(self.workdir), [])

        proc = self.launch(BIN_DIR, "--hold")
        wait_until("the held cluster", lambda: "cluster running" in self.log(), timeout=300)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        self.assertEqual(self.finish(proc), 0, self.log())
        self.assertIn("done; logs in", self.log())
        self.assertEqual(processes_mentioning(self.workdir), [])


class ClusterScriptTest(unittest.TestCase):
    """deploy/local/cluster.sh up | status | down: the detached cluster the demo leaves."""

    def test_up_status_down(self):
        workdir = tempfile.mkdtemp(prefix="rwkv-cluster-sh-")
        self.addCleanup(shutil.rmtree, workdir, True)
        script = os.path.join(local_cluster.REPO, "deploy", "local", "cluster.sh")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RWKV_")}

        def run(command):
            extra = ["--bin", BIN_DIR, "--no-prometheus", "-n", "4"] if command == "up" else []
            return subprocess.run(["bash", script, command, "--workdir", workdir, *extra],
                                  env=env, capture_output=True, text=True, timeout=300)

        up = run("up")
        self.assertEqual(up.returncode, 0, up.stdout + up.stderr)
        self.assertIn("The cluster keeps running", up.stdout)
        try:
            status = run("status")
            self.assertEqual(status.returncode, 0, status.stdout + status.stderr)
            # Two CPU workers in pool cpu, plus pool vulkan where the machine has a device.
            self.assertRegex(status.stdout, r"gateway \S+: [23] healthy workers \(.*cpu 2")
            self.assertEqual(run("up").returncode, 1, "a second up must refuse")
        finally:
            down = run("down")
        self.assertEqual(down.returncode, 0, down.stdout + down.stderr)
        self.assertIn("done; logs in", down.stdout)
        self.assertEqual(processes_mentioning(workdir), [])
        self.assertEqual(run("status").returncode, 3)


def main():
    global BIN_DIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    args, rest = parser.parse_known_args()
    BIN_DIR = os.path.abspath(args.bin)
    local_cluster.require(BIN_DIR, grpc_client=False)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
