import type { Firestore } from 'firebase-admin/firestore';
import type { Pool } from 'pg';
import type { MailgunGateway } from './mailgun.js';

/** What the activities need from the outside world; the worker wires real clients, tests wire local ones. */
export interface ActivityDeps {
  pool: Pool;
  mailgun: MailgunGateway;
  firestore: Firestore;
  mail: {
    defaultFrom: string;
    /** The longest one Mailgun request may take; after that the attempt that made it can no longer be sending. */
    requestTimeoutMs: number;
    /** How long after an ambiguous attempt Mailgun's events API is trusted to show it. */
    eventsSettleMs: number;
    /** Wait after a 429 that carries no retry hint. */
    rateLimitBackoffMs: number;
  };
}
