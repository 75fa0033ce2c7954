import { context, propagation, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import type { Context as HonoContext } from 'hono';
import { createMiddleware } from 'hono/factory';
import { routeOf } from './request-metrics.js';

const tracer = trace.getTracer('dn-campaigns-api');

const requestHeaders: TextMapGetter<HonoContext> = {
  keys: (c) => [...c.req.raw.headers.keys()],
  get: (c, key) => c.req.header(key),
};

/**
 * One server span per request, named for the route it matched (its pattern: ids and tokens stay
 * out of span names), continuing the caller's W3C `traceparent` when it sends one. Whatever the
 * request does under it (starting, signalling or updating workflows) joins that trace. With no
 * tracer provider installed the span records nothing.
 */
export function traceRequests() {
  return createMiddleware(async (c, next) => {
    const parent = propagation.extract(context.active(), c, requestHeaders);
    const span = tracer.startSpan(c.req.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': c.req.method } }, parent);
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const route = routeOf(c);
      span.updateName(`${c.req.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
      if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  });
}
