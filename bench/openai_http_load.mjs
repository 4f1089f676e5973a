// HTTP twin of `rwkv bench --server`: the same requests (P random byte-token ids as the prompt,
// seed = request index, greedy, ignore_eos, N tokens) as streaming POST /v1/completions to
// rwkv-gateway --http-listen, C at a time over keep-alive connections. Prints one JSON object
// with the TTFT p50/p99 (request sent → first event with text) and the aggregate generated
// tokens/s (usage.completion_tokens over the wall time).
// Usage: node bench/openai_http_load.mjs URL MODEL C REQUESTS P N [TOKEN]
import http from 'node:http';

const [url, model, c, requests, p, n, token] = process.argv.slice(2);
const concurrency = Number(c);
const total = Number(requests);
const promptTokens = Number(p);
const genTokens = Number(n);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const target = new URL('/v1/completions', url);

// The same prompt ids as bench_server.cc's MakeRequest would use are not needed: only the
// lengths matter for the load; a simple LCG keeps runs repeatable.
function prompt(index) {
  let x = BigInt(index) * 1000003n + 1n;
  const ids = [];
  for (let i = 0; i < promptTokens; i += 1) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    ids.push(1 + Number(x % 255n));
  }
  return ids;
}

function one(index) {
  const body = JSON.stringify({
    model, prompt: prompt(index), max_tokens: genTokens, temperature: 0, seed: index,
    ignore_eos: true, stream: true, stream_options: { include_usage: true },
  });
  const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
  if (token) headers.Authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let ttft = -1;
    let generated = 0;
    let pending = '';
    const req = http.request(target, { method: 'POST', agent, headers }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (data) => {
        pending += data;
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(6, end);  // after "data: "
          pending = pending.slice(end + 2);
          if (event === '[DONE]') continue;
          const chunk = JSON.parse(event);
          if (ttft < 0 && chunk.choices.length && chunk.choices[0].text) {
            ttft = Number(process.hrtime.bigint() - start) / 1e9;
          }
          if (chunk.usage) generated = chunk.usage.completion_tokens;
        }
      });
      res.on('end', () => resolve({ ttft, generated }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(values, q) {
  const v = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(q * v.length);
  return v[Math.min(v.length - 1, rank === 0 ? 0 : rank - 1)];
}

await one(0);  // warm-up, not measured
let next = 1;
const ttfts = [];
let generated = 0;
const start = process.hrtime.bigint();
async function lane() {
  while (next <= total) {
    const r = await one(next++);
    if (r.ttft >= 0) ttfts.push(r.ttft);
    generated += r.generated;
  }
}
await Promise.all(Array.from({ length: concurrency }, lane));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({
  requests: total, concurrency, generated_tokens: generated,
  generated_tokens_per_second: Number((generated / seconds).toFixed(2)),
  ttft_ms_p50: Number((percentile(ttfts, 0.5) * 1e3).toFixed(2)),
  ttft_ms_p99: Number((percentile(ttfts, 0.99) * 1e3).toFixed(2)),
}));
agent.destroy();
