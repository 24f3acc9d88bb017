// Runs the official AI SDK `experimental_generateVideo` against an AI Gateway base URL.
//
// stdin: one JSON document
//   {
//     "baseURL": "http://127.0.0.1:1234/v4/ai",
//     "apiKey": "test-key",
//     "model": "klingai/kling-v2.6-i2v",
//     "call": { ...the generateVideo arguments except `model`... },
//     "bufferFiles": { "prompt.image": "start.png", "providerOptions.klingai.imageTail": "end.png" },
//     "outDir": "out",
//     "mode": "sse" | "async",
//     "pollIntervalMs": 50,          optional, async mode only (default 50)
//     "pollTimeoutMs": 60000,        optional, async mode only (default 60000)
//     "download": "sdk" | "direct"   optional (default "sdk")
//   }
//
// `bufferFiles` maps dotted paths inside `call` (array indices as numbers) to files whose bytes
// are set there as Node Buffers. Relative paths resolve against the working directory.
//
// How the flow is chosen: the gateway video model implements both `doGenerate` (synchronous SSE
// `POST {base}/video-model`) and `doStart`/`doStatus` (`{base}/video-model/start` and `/status`).
// `experimental_generateVideo` uses start/status only when the caller passes `poll` or `webhook`
// (or when the model has no `doGenerate`); otherwise it calls `doGenerate`. So mode "sse" passes
// neither, and mode "async" passes `poll`.
//
// `download: "direct"` hands generateVideo a download function that fetches result URLs as they
// are; the SDK's own downloader refuses loopback and private addresses, so a local emulator's URL
// results (`--results url`) need it, and its default inline results (`--results base64`) do not.
//
// stdout: one JSON line
//   {"videos": [{"path", "mediaType", "size"}], "warnings": [...], "providerMetadata": {...}}
// or, on failure (exit code 1), {"error": {"name", "message", ...}}.

import fs from 'node:fs';
import path from 'node:path';
import { experimental_generateVideo as generateVideo } from 'ai';
import { createGateway } from '@ai-sdk/gateway';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function setPath(target, dotted, value) {
  const keys = dotted.split('.');
  let node = target;
  for (const [i, key] of keys.entries()) {
    const last = i === keys.length - 1;
    const slot = Array.isArray(node) ? Number(key) : key;
    if (last) {
      node[slot] = value;
    } else {
      if (node[slot] == null || typeof node[slot] !== 'object') {
        node[slot] = /^\d+$/.test(keys[i + 1]) ? [] : {};
      }
      node = node[slot];
    }
  }
}

async function directDownload({ url, abortSignal }) {
  const response = await fetch(url, { signal: abortSignal });
  if (!response.ok) {
    throw new Error(`download of ${url} failed: HTTP ${response.status}`);
  }
  return {
    data: new Uint8Array(await response.arrayBuffer()),
    mediaType: response.headers.get('content-type') ?? undefined,
  };
}

function serializeError(error, depth = 0) {
  if (error == null || typeof error !== 'object') {
    return { name: 'Error', message: String(error) };
  }
  const out = { name: error.name ?? 'Error', message: error.message ?? String(error) };
  for (const key of [
    'type',
    'statusCode',
    'url',
    'isRetryable',
    'generationId',
    'responseBody',
    'reason',
  ]) {
    if (error[key] !== undefined) out[key] = error[key];
  }
  if (depth < 3) {
    if (error.lastError !== undefined) out.lastError = serializeError(error.lastError, depth + 1);
    if (error.cause !== undefined) out.cause = serializeError(error.cause, depth + 1);
  }
  return out;
}

async function main() {
  const input = await readStdin();
  const mode = input.mode ?? 'sse';
  if (mode !== 'sse' && mode !== 'async') {
    throw new Error(`mode must be "sse" or "async", got ${JSON.stringify(mode)}`);
  }

  const call = structuredClone(input.call ?? {});
  for (const [dotted, file] of Object.entries(input.bufferFiles ?? {})) {
    setPath(call, dotted, fs.readFileSync(file));
  }
  if (mode === 'async') {
    call.poll = {
      intervalMs: input.pollIntervalMs ?? 50,
      timeoutMs: input.pollTimeoutMs ?? 60_000,
      ...call.poll,
    };
  } else {
    delete call.poll;
    delete call.webhook;
  }
  if (input.download === 'direct') {
    call.download = directDownload;
  }

  const gateway = createGateway({ baseURL: input.baseURL, apiKey: input.apiKey });
  const result = await generateVideo({ ...call, model: gateway.video(input.model) });

  const outDir = input.outDir ?? '.';
  fs.mkdirSync(outDir, { recursive: true });
  const videos = result.videos.map((video, i) => {
    const file = path.join(outDir, `video-${i}.mp4`);
    fs.writeFileSync(file, video.uint8Array);
    return { path: file, mediaType: video.mediaType, size: video.uint8Array.length };
  });

  process.stdout.write(
    JSON.stringify({
      videos,
      warnings: result.warnings,
      providerMetadata: result.providerMetadata,
    }) + '\n',
  );
}

try {
  await main();
} catch (error) {
  process.stdout.write(JSON.stringify({ error: serializeError(error) }) + '\n');
  process.exitCode = 1;
}
