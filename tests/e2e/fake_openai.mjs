// fake_openai.mjs - a small OpenAI-compatible HTTP server for the framework
// tests (loopback, free port): POST /v1/chat/completions (JSON or SSE
// stream, with tool calls) and POST /v1/embeddings. Its answers are
// scripted so every token count, model and tool call is known exactly:
//
//   chat, no tool result in the messages yet and tools offered:
//     one call of the first tool with {"city":"Paris"};
//     usage prompt 100 + 50 x (tool messages), completion 20 + 10 x (tool messages)
//   chat otherwise: the text "It is sunny in Paris.", same usage rule
//   embeddings: 8 prompt tokens per input, vectors of 3 numbers
//
// The response model echoes the request's model. `calls` records each
// request (path, model, stream) for the tests to check.

import http from 'node:http';

export const CHAT_TEXT = 'It is sunny in Paris.';

export function usageFor(messages) {
  const tools = messages.filter((m) => m.role === 'tool').length;
  return { prompt_tokens: 100 + 50 * tools, completion_tokens: 20 + 10 * tools };
}

function chatAnswer(req) {
  const messages = req.messages ?? [];
  const u = usageFor(messages);
  const usage = { ...u, total_tokens: u.prompt_tokens + u.completion_tokens };
  const toolTurn = (req.tools ?? []).length > 0 && !messages.some((m) => m.role === 'tool');
  const message = toolTurn
    ? {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: `call_${messages.length}`,
            type: 'function',
            function: { name: req.tools[0].function.name, arguments: '{"city":"Paris"}' },
          },
        ],
      }
    : { role: 'assistant', content: CHAT_TEXT };
  return { message, usage, finish: toolTurn ? 'tool_calls' : 'stop' };
}

function sendJson(res, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function chat(req, res) {
  const a = chatAnswer(req);
  const base = { id: 'chatcmpl-fake', created: 1700000000, model: req.model, system_fingerprint: 'fp_fake' };
  if (!req.stream) {
    sendJson(res, {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: a.message, finish_reason: a.finish, logprobs: null }],
      usage: a.usage,
    });
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  const chunk = (choices, extra = {}) =>
    res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`);
  if (a.message.tool_calls) {
    const tc = a.message.tool_calls[0];
    chunk([{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, ...tc }] }, finish_reason: null }]);
  } else {
    chunk([{ index: 0, delta: { role: 'assistant', content: a.message.content }, finish_reason: null }]);
  }
  chunk([{ index: 0, delta: {}, finish_reason: a.finish }]);
  chunk([], { usage: a.usage });
  res.end('data: [DONE]\n\n');
}

function embeddings(req, res) {
  const input = Array.isArray(req.input) ? req.input : [req.input];
  sendJson(res, {
    object: 'list',
    model: req.model,
    data: input.map((_, i) => ({ object: 'embedding', index: i, embedding: [0.1, 0.2, 0.3] })),
    usage: { prompt_tokens: 8 * input.length, total_tokens: 8 * input.length },
  });
}

export async function startFakeOpenAI() {
  const calls = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      let parsed = {};
      try {
        parsed = body ? JSON.parse(body) : {};
      } catch {
        res.writeHead(400).end();
        return;
      }
      calls.push({ path: req.url, model: parsed.model, stream: !!parsed.stream });
      if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        chat(parsed, res);
      } else if (req.method === 'POST' && req.url === '/v1/embeddings') {
        embeddings(parsed, res);
      } else {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    port,
    baseURL: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
