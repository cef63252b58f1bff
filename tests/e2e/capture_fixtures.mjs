// capture_fixtures.mjs - regenerate tests/data/classify/*.json: run each
// framework of frameworks.mjs against the fake OpenAI server, keep its spans
// in memory and write them as one OTLP/JSON ExportTraceServiceRequest
// (serialized by the OTel JS SDK's own JsonTraceSerializer). test_classify
// decodes them with the real decoder. Run: node capture_fixtures.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';

import { startFakeOpenAI } from './fake_openai.mjs';
import * as fw from './frameworks.mjs';

const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'data', 'classify');
mkdirSync(outDir, { recursive: true });
const runs = {
  openinferenceOpenAI: 'openinference_openai',
  vercelAI6: 'vercel_ai6',
  langgraph: 'langgraph_openinference',
  lcelChain: 'langchain_chain_openinference',
};
const fake = await startFakeOpenAI();
for (const [fn, file] of Object.entries(runs)) {
  const exp = new InMemorySpanExporter();
  const provider = fw.makeProvider(exp, `fixture-${file}`);
  await fw[fn](provider, fake);
  await provider.forceFlush();
  const json = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(exp.getFinishedSpans())));
  writeFileSync(path.join(outDir, `${file}.json`), `${JSON.stringify(json, null, 1)}\n`);
  console.log(`${file}.json: ${exp.getFinishedSpans().length} spans`);
}
await fake.close();
