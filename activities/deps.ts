import type { Firestore } from 'firebase-admin/firestore';
import type { BrakeLimits } from '../common/brake.js';
import type { Pool } from 'pg';
import type { SendingStreams, Stream } from '../common/streams.js';
import type { UnsubscribeSettings } from '../consent/unsubscribe-links.js';
import type { ReportsDeps } from './financial.js';
import type { MailgunAccount } from './mailgun.js';
import type { ContentWriter } from './openai.js';
import type { PipelineMetrics } from '../metrics/pipeline.js';

/** What the activities need from the outside world; the worker wires real clients, tests wire local ones. */
export interface ActivityDeps {
  pool: Pool;
  /** Mailgun, on each stream's sending domain. */
  mailgun: MailgunAccount;
  firestore: Firestore;
  /** Drafts email content (OpenAI, or the local OpenAI-compatible server). */
  contentWriter: ContentWriter;
  ai: {
    /** The chat model used when a request names none. */
    model: string;
  };
  /** The monthly reports in S3 and the CloudFront signer for their links. */
  reports: ReportsDeps;
  /** The pipeline's Prometheus figures (one registry per process). */
  metrics: PipelineMetrics;
  mail: {
    /** Each stream's sending domain, default sender and IP pool. */
    streams: SendingStreams;
    /** The longest one Mailgun request may take; after that the attempt that made it can no longer be sending. */
    requestTimeoutMs: number;
    /** The least time after an ambiguous attempt before Mailgun's logs are asked about it. */
    eventsSettleMs: number;
    /** How long after an ambiguous attempt to keep waiting for proof before an operator must decide. */
    outcomeMaxWaitMs: number;
    /** The domains previews may go to (PREVIEW_ALLOWED_DOMAINS). */
    previewDomains: readonly string[];
    /** Where test-mode probes go (never delivered). */
    probeRecipient: string;
    /** Wait after a 429 that carries no retry hint. */
    rateLimitBackoffMs: number;
    /** A sending domain's rate budget in messages per second, shared in Aurora by every campaign and worker sending on it. */
    rateOf(domain: string): number;
    /** Unsubscribe links; without them no marketing campaign can be approved. */
    unsubscribe: UnsubscribeSettings | undefined;
    /** When a send stops itself: its bounce and complaint limits (README, "The brake"). */
    brake: BrakeLimits;
    /** The streams whose messages Mailgun tracks opens of. */
    trackOpens: readonly Stream[];
  };
}
