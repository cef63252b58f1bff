// frameworks.mjs - real agent frameworks driven against the fake OpenAI
// server (fake_openai.mjs), traced by a real OpenTelemetry JS SDK provider
// the caller passes. Each driver runs one scripted interaction:
//
//   openinferenceOpenAI: @arizeai/openinference-instrumentation-openai over
//     the openai client: one embeddings call (2 inputs -> 16 prompt tokens)
//     and one chat call (100/20 tokens).
//   vercelAI6: ai 6.x generateText with a weather tool, maxSteps 2,
//     experimental_telemetry.functionId = AGENT: two chat calls (100/20,
//     then 150/30 after the tool result) and one tool call.
//   langgraph: createReactAgent({ name: AGENT }) with the same tool through
//     @arizeai/openinference-instrumentation-langchain, thread_id = THREAD:
//     two chat calls (100/20, 150/30) and one tool call.

import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

export const AGENT = 'weather-agent';
export const THREAD = 'thread-42';
export const MODEL = 'gpt-4o-mini';
export const EMBED_MODEL = 'text-embedding-3-small';

let ctxManager = null;

// One tracer provider exporting every span as it ends through exporter.
export function makeProvider(exporter, service) {
  if (ctxManager === null) {
    ctxManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(ctxManager);
  }
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
}

export async function openinferenceOpenAI(provider, fake) {
  const { OpenAIInstrumentation } = await import('@arizeai/openinference-instrumentation-openai');
  const OpenAI = (await import('openai')).default;
  const inst = new OpenAIInstrumentation({ tracerProvider: provider });
  inst.manuallyInstrument(OpenAI);
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.baseURL });
  await client.embeddings.create({ model: EMBED_MODEL, input: ['agent metrics', 'from spans'] });
  await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Weather in Paris?' }],
  });
}

export async function vercelAI6(provider, fake) {
  const { generateText, tool, stepCountIs } = await import('ai');
  const { createOpenAI } = await import('@ai-sdk/openai');
  const { z } = await import('zod');
  const openai = createOpenAI({ apiKey: 'sk-test', baseURL: fake.baseURL });
  await generateText({
    model: openai.chat(MODEL),
    prompt: 'Weather in Paris?',
    tools: {
      get_weather: tool({
        description: 'Weather for a city',
        inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => `sunny in ${city}`,
      }),
    },
    stopWhen: stepCountIs(2),
    experimental_telemetry: {
      isEnabled: true,
      functionId: AGENT,
      tracer: provider.getTracer('ai'),
    },
  });
}

export async function langgraph(provider, fake, name = AGENT) {
  const { LangChainInstrumentation } = await import('@arizeai/openinference-instrumentation-langchain');
  const CallbackManagerModule = await import('@langchain/core/callbacks/manager');
  const inst = new LangChainInstrumentation({ tracerProvider: provider });
  inst.manuallyInstrument(CallbackManagerModule);
  const { createReactAgent } = await import('@langchain/langgraph/prebuilt');
  const { ChatOpenAI } = await import('@langchain/openai');
  const { tool } = await import('@langchain/core/tools');
  const { z } = await import('zod');
  const getWeather = tool(async ({ city }) => `sunny in ${city}`, {
    name: 'get_weather',
    description: 'Weather for a city',
    schema: z.object({ city: z.string() }),
  });
  const llm = new ChatOpenAI({ model: MODEL, apiKey: 'sk-test', configuration: { baseURL: fake.baseURL } });
  const agent = createReactAgent({ llm, tools: [getWeather], name });
  await agent.invoke(
    { messages: [{ role: 'user', content: 'Weather in Paris?' }] },
    { configurable: { thread_id: THREAD } },
  );
}

//   lcelChain: a plain LangChain.js chain (prompt | model, no LangGraph) run
//     as `runName`, traced by the same OpenInference instrumentation: one
//     chat call (100/20 tokens). No span says "agent": deploy/rules/
//     openinference-langchain.yaml makes its root CHAIN span one.
// Instrumenting twice would trace every run twice: once per provider.
const lcInstrumented = new WeakSet();

export async function lcelChain(provider, fake, runName = 'support-chain') {
  if (!lcInstrumented.has(provider)) {
    const { LangChainInstrumentation } = await import('@arizeai/openinference-instrumentation-langchain');
    const CallbackManagerModule = await import('@langchain/core/callbacks/manager');
    new LangChainInstrumentation({ tracerProvider: provider }).manuallyInstrument(CallbackManagerModule);
    lcInstrumented.add(provider);
  }
  const { ChatPromptTemplate } = await import('@langchain/core/prompts');
  const { ChatOpenAI } = await import('@langchain/openai');
  const llm = new ChatOpenAI({ model: MODEL, apiKey: 'sk-test', configuration: { baseURL: fake.baseURL } });
  const chain = ChatPromptTemplate.fromMessages([['user', '{question}']]).pipe(llm);
  await chain.invoke({ question: 'Weather in Paris?' }, { runName, metadata: { session_id: THREAD } });
}
