"""Python stubs for rwkv.v1, generated on the spot from proto/ with Debian's protoc and
grpc_python_plugin (protobuf-compiler-grpc); they run on Debian's python3-grpcio.

Debian 12's python3-grpc-tools bundles a protoc that rejects proto3 `optional`, so the system
protoc is used; grpc_tools is the fallback where no grpc_python_plugin is installed.
"""
import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def generate(out_dir):
    """Writes rwkv/v1/*_pb2.py and *_pb2_grpc.py under out_dir; raises on failure."""
    proto_dir = os.path.join(REPO, "proto")
    protos = [
        os.path.join(proto_dir, "rwkv", "v1", name)
        for name in sorted(os.listdir(os.path.join(proto_dir, "rwkv", "v1")))
        if name.endswith(".proto")
    ]
    plugin = shutil.which("grpc_python_plugin")
    if shutil.which("protoc") and plugin:
        cmd = ["protoc", f"-I{proto_dir}", f"--python_out={out_dir}",
               f"--grpc_python_out={out_dir}", f"--plugin=protoc-gen-grpc_python={plugin}"]
    else:
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}",
               f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
    subprocess.run(cmd + protos, check=True)


def load():
    """Generates the stubs into a temporary directory and returns the modules as a namespace:
    .common, .inference, .inference_grpc, .jobs, .jobs_grpc."""
    out_dir = tempfile.mkdtemp(prefix="rwkv-pystubs-")
    atexit.register(shutil.rmtree, out_dir, True)
    generate(out_dir)
    sys.path.insert(0, out_dir)

    class Stubs:
        pass

    s = Stubs()
    s.common = importlib.import_module("rwkv.v1.common_pb2")
    s.inference = importlib.import_module("rwkv.v1.inference_pb2")
    s.inference_grpc = importlib.import_module("rwkv.v1.inference_pb2_grpc")
    s.jobs = importlib.import_module("rwkv.v1.jobs_pb2")
    s.jobs_grpc = importlib.import_module("rwkv.v1.jobs_pb2_grpc")
    s.dir = out_dir
    return s
