// Runs the official AI SDK gateway client's `getAvailableModels()` against an AI Gateway base URL.
//
// stdin: one JSON document {"baseURL": "http://127.0.0.1:1234/v4/ai", "apiKey": "test-key"}
//
// stdout: one JSON line, the client's parsed answer {"models": [{"id", "name", "description",
// "pricing", "specification", "modelType"}]}, or, on failure (exit code 1),
// {"error": {"name", "message", "type", "statusCode"}}.

import { createGateway } from '@ai-sdk/gateway';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

try {
  const input = await readStdin();
  const gateway = createGateway({ baseURL: input.baseURL, apiKey: input.apiKey });
  const answer = await gateway.getAvailableModels();
  process.stdout.write(JSON.stringify(answer) + '\n');
} catch (error) {
  const out = { name: error?.name ?? 'Error', message: error?.message ?? String(error) };
  for (const key of ['type', 'statusCode']) {
    if (error?.[key] !== undefined) out[key] = error[key];
  }
  process.stdout.write(JSON.stringify({ error: out }) + '\n');
  process.exitCode = 1;
}
