import { z } from 'zod';
import type { PageDef } from './page.js';

/**
 * The JSON API's OpenAPI 3.1 document, made from the same zod schemas the
 * pages validate their input with and type their output by.
 */
export function openApiDocument(pages: PageDef[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const p of pages) {
    const path = `/api${p.path.replace(/:(\w+)/g, '{$1}')}`;
    const input = z.toJSONSchema(p.input, { io: 'input', unrepresentable: 'any' }) as {
      properties?: Record<string, unknown>;
      required?: string[];
    };
    const inPath = new Set([...p.path.matchAll(/:(\w+)/g)].map((m) => m[1]!));
    const parameters = Object.entries(input.properties ?? {}).map(([name, schema]) => ({
      name,
      in: inPath.has(name) ? 'path' : 'query',
      required: inPath.has(name) || (input.required ?? []).includes(name),
      schema,
    }));
    paths[path] = {
      get: {
        operationId: p.id,
        summary: p.summary,
        parameters,
        responses: {
          '200': {
            description: p.summary,
            content: {
              'application/json': { schema: z.toJSONSchema(p.output, { io: 'output', unrepresentable: 'any' }) },
            },
          },
          '304': { description: 'not modified (ETag)' },
          '400': { description: 'bad parameters', content: { 'application/json': { schema: ERROR } } },
          '404': { description: 'nothing there', content: { 'application/json': { schema: ERROR } } },
        },
      },
    };
  }
  const admin = (summary: string, body?: Record<string, unknown>) => ({
    post: {
      summary,
      security: [{ bearer: [] }],
      ...(body ? { requestBody: { content: { 'application/json': { schema: body } } } } : {}),
      responses: { '200': { description: 'done' }, '401': { description: 'no token' } },
    },
  });
  paths['/api/runs/{id}/cancel'] = admin('Cancel a run that has not finished');
  paths['/api/runs/{id}/retest'] = admin("Queue the run's series again; answers the new run's id");
  paths['/api/alerts/{id}'] = admin('Set the triage status and note of a nightly alert', {
    type: 'object',
    properties: { status: { enum: ['new', 'acknowledged', 'invalid', 'fixed'] }, note: { type: 'string' } },
    required: ['status'],
  });
  return {
    openapi: '3.1.0',
    info: { title: 'ksci dashboard API', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}

const ERROR = { type: 'object', properties: { error: { type: 'string' }, status: { type: 'integer' } } };
