import type { Hook } from '@hono/zod-openapi';
import type { Env, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { CampaignError } from '../client/campaigns.js';
import { InvalidInputError } from '../client/validation.js';

/**
 * Every error the API answers with has one shape:
 * `{ "error": { "code", "message", "fields"?: [{ "field", "message" }] } }`.
 * Handlers throw; `errorHandler` turns what they throw into that shape.
 */

export interface FieldProblem {
  field: string;
  message: string;
}

export interface ErrorBody {
  error: { code: string; message: string; fields?: FieldProblem[] };
}

/** Whatever the API can say to the caller: a status, a stable code, a message, and the fields at fault. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly fields?: FieldProblem[],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.fields ? { fields: this.fields } : {}) } };
  }
}

const CAMPAIGN_ERRORS: Record<CampaignError['code'], [ContentfulStatusCode, string]> = {
  'not-found': [404, 'not_found'],
  conflict: [409, 'conflict'],
  'wrong-phase': [409, 'wrong_phase'],
  'not-started': [409, 'wrong_phase'],
  invalid: [400, 'invalid_request'],
  rejected: [409, 'rejected'],
  // OpenAI would not or could not write a draft.
  upstream: [502, 'upstream_error'],
  failed: [409, 'failed'],
  // The Idempotency-Key was used before for a different request.
  'idempotency-mismatch': [422, 'idempotency_mismatch'],
};

const HTTP_ERRORS: Partial<Record<number, [string, string]>> = {
  400: ['invalid_request', 'Invalid request'],
  401: ['unauthorized', 'Missing or invalid x-api-key header'],
  404: ['not_found', 'Not found'],
  413: ['payload_too_large', 'Request body too large'],
  415: ['unsupported_media_type', 'Send the body as application/json'],
};

const INTERNAL = new ApiError(500, 'internal_error', 'Internal server error');

/** Zod issues as fields; an unknown key is named itself rather than its parent object. */
export function fieldsOfIssues(issues: z.core.$ZodIssue[], root: string): FieldProblem[] {
  return issues.flatMap((issue) => {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: [...path, key].join('.'), message: 'is not a known field' }));
    }
    return [{ field: path.join('.') || root, message: issue.message }];
  });
}

/** Maps anything thrown to the ApiError the caller sees; undefined for the unexpected (a 500). */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof InvalidInputError) {
    return new ApiError(400, 'invalid_request', 'Invalid request', error.fields);
  }
  if (error instanceof CampaignError) {
    const [status, code] = CAMPAIGN_ERRORS[error.code];
    return new ApiError(status, code, error.message);
  }
  if (error instanceof HTTPException && error.status < 500) {
    const [code, message] = HTTP_ERRORS[error.status] ?? [`http_${error.status}`, 'Request refused'];
    return new ApiError(error.status, code, error.message || message);
  }
  return undefined;
}

export interface ApiLogger {
  error(details: object, message: string): void;
}

/** Known errors answer as themselves; anything else is logged and answered with a generic 500. */
export function errorHandler(logger: ApiLogger): ErrorHandler {
  return (error, c) => {
    const known = toApiError(error);
    if (!known) logger.error({ err: error, method: c.req.method, path: c.req.path }, 'request failed');
    const answer = known ?? INTERNAL;
    return c.json(answer.toJSON(), answer.status);
  };
}

export const notFound: NotFoundHandler = (c) =>
  c.json(new ApiError(404, 'not_found', `No route for ${c.req.method} ${c.req.path}`).toJSON(), 404);

const TARGETS: Record<string, string> = { json: 'body', form: 'body', query: 'query', param: 'path', header: 'headers', cookie: 'cookies' };

/** The default hook of every route: a request its zod schemas refuse is a 400 naming each field. */
export const rejectInvalid: Hook<unknown, Env, string, void> = (result) => {
  if (result.success) return;
  const where = TARGETS[result.target] ?? result.target;
  throw new ApiError(400, 'invalid_request', `Invalid request ${where}`, fieldsOfIssues(result.error.issues, where));
};
