// Drives rwkv-gateway's HTTP front with the official openai client library and prints what it
// got as one JSON object; tests/integration/openai_http_test.cc checks it.
// Usage: node client_check.mjs BASE_URL API_KEY MODEL
import OpenAI from 'openai';

const [baseURL, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
// ignore_eos (an extension) keeps the synthetic model generating to max_tokens.
const common = { model, temperature: 0, ignore_eos: true };
const out = {};

const completion = await client.completions.create({ ...common, prompt: 'Hello', max_tokens: 12 });
out.completion = {
  object: completion.object,
  id: completion.id,
  text: completion.choices[0].text,
  finish_reason: completion.choices[0].finish_reason,
  usage: completion.usage,
};

{
  const stream = await client.completions.create({
    ...common, prompt: 'Hello', max_tokens: 12, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish_reason = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    for (const choice of chunk.choices) {
      text += choice.text;
      if (choice.finish_reason) finish_reason = choice.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  out.completion_stream = { text, finish_reason, usage, chunks };
}

const messages = [
  { role: 'system', content: 'You are a test.' },
  { role: 'user', content: 'Hi' },
];
const chat = await client.chat.completions.create({
  ...common, messages, max_completion_tokens: 10,
});
out.chat = {
  object: chat.object,
  role: chat.choices[0].message.role,
  content: chat.choices[0].message.content,
  finish_reason: chat.choices[0].finish_reason,
  usage: chat.usage,
};

{
  const stream = await client.chat.completions.create({
    ...common, messages, max_completion_tokens: 10, stream: true,
    stream_options: { include_usage: true },
  });
  let content = '';
  let role = null;
  let finish_reason = null;
  let usage = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      if (choice.delta.role) role = choice.delta.role;
      if (choice.delta.content) content += choice.delta.content;
      if (choice.finish_reason) finish_reason = choice.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  out.chat_stream = { role, content, finish_reason, usage };
}

out.models = (await client.models.list()).data.map((m) => m.id);

async function errorOf(call) {
  try {
    await call();
    return { status: 0 };
  } catch (e) {
    return { status: e.status ?? -1, type: e.type ?? null, message: String(e.message) };
  }
}
out.unknown_model = await errorOf(() =>
  client.completions.create({ model: 'no-such-model', prompt: 'x', max_tokens: 1 }));
out.bad_field = await errorOf(() =>
  client.chat.completions.create({ ...common, messages, max_completion_tokens: 0 }));
const stranger = new OpenAI({ baseURL, apiKey: 'not-a-token', maxRetries: 0, timeout: 60000 });
out.wrong_key = await errorOf(() => stranger.models.list());

console.log(JSON.stringify(out));
