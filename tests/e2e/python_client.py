#!/usr/bin/python3
"""A client from outside the C++ code base: Debian's python3-grpcio with stubs built from
proto/ (rwkv_grpc.py). Streams a completion through the gateway and submits a converter job
through it.

  python_client.py --addr HOST:PORT generate --model M [-p PROMPT] [-n TOKENS]
  python_client.py --addr HOST:PORT job --kind quantize --input models/A.gguf
                   --output models/B.gguf --type Q8_0

`generate` prints the text as it streams, then one line of JSON (finish reason, token counts,
served_by). `job` submits, follows Jobs.Watch, prints each state change and then one line of
JSON with the final job; the exit status is 0 only when the job SUCCEEDED.
"""
import argparse
import json
import os
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rwkv_grpc  # noqa: E402


def generate(pb, channel, args):
    stub = pb.inference_grpc.InferenceStub(channel)
    request = pb.inference.GenerateRequest(model=args.model, text=args.prompt,
                                           max_tokens=args.n, ignore_eos=True)
    request.sampling.temperature = 0.0
    tokens = 0
    final = None
    for message in stub.Generate(request, timeout=args.timeout):
        tokens += len(message.token_ids)
        sys.stdout.write(message.text)
        sys.stdout.flush()
        if message.HasField("final"):
            final = message.final
    sys.stdout.write("\n")
    if final is None:
        print("python_client: stream ended without a final message", file=sys.stderr)
        return 1
    print(json.dumps({
        "finish_reason": pb.inference.FinishReason.Name(final.finish_reason),
        "streamed_tokens": tokens,
        "generated_tokens": final.usage.generated_tokens,
        "prompt_tokens": final.usage.prompt_tokens,
        "served_by": final.served_by,
    }))
    return 0


def job(pb, channel, args):
    stub = pb.jobs_grpc.JobsStub(channel)
    kinds = {"convert": pb.jobs.JOB_KIND_CONVERT_CHECKPOINT, "quantize": pb.jobs.JOB_KIND_QUANTIZE}
    spec = pb.jobs.JobSpec(kind=kinds[args.kind], input=args.input, output=args.output,
                           quant_type=args.type, overwrite=True)
    submitted = stub.Submit(pb.jobs.SubmitJobRequest(spec=spec), timeout=args.timeout)
    print(f"submitted {submitted.id}", file=sys.stderr)
    last_state = None
    final = submitted
    for update in stub.Watch(pb.jobs.WatchJobRequest(id=submitted.id), timeout=args.timeout):
        final = update
        if update.state != last_state:
            last_state = update.state
            print(f"{update.id}: {pb.jobs.JobState.Name(update.state)}", file=sys.stderr)
    state = pb.jobs.JobState.Name(final.state)
    print(json.dumps({"id": final.id, "state": state, "error": final.error,
                      "output": final.spec.output}))
    return 0 if final.state == pb.jobs.JOB_STATE_SUCCEEDED else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True, help="gateway host:port")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per call")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--model", required=True)
    g.add_argument("-p", "--prompt", default="The RWKV cluster says:")
    g.add_argument("-n", type=int, default=32)
    j = sub.add_parser("job")
    j.add_argument("--kind", choices=["convert", "quantize"], required=True)
    j.add_argument("--input", required=True)
    j.add_argument("--output", required=True)
    j.add_argument("--type", default="", help="quantize: Q8_0, Q4_0, ...")
    args = parser.parse_args()

    pb = rwkv_grpc.load()
    with grpc.insecure_channel(args.addr) as channel:
        try:
            return generate(pb, channel, args) if args.command == "generate" else job(
                pb, channel, args)
        except grpc.RpcError as e:
            print(f"python_client: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
