import type { Pool } from 'pg';
import type { Stream } from '../common/streams.js';

/**
 * Deterministic demo and test users. User i's profile follows fixed rules, so a
 * test can say who must (and must not) receive a campaign without asking the
 * code under test.
 */

export interface SeedProfile {
  email: string;
  name: string;
  customId: string;
  status: 'active' | 'inactive';
  /** Their consent, the same for each of their streams. */
  subscriptionStatus: 'subscribed' | 'unsubscribed';
  /** The streams they have consent rows for. */
  emailTypes: Stream[];
  suppressed: boolean;
}

export interface SeedOptions {
  /** Mix in unsubscribed, suppressed (bounced), inactive users and statements-only users. Default true. */
  mixed?: boolean;
  domain?: string;
}

export function seedProfile(i: number, { mixed = true, domain = 'artists.example' }: SeedOptions = {}): SeedProfile {
  const pad = String(i).padStart(7, '0');
  return {
    email: `artist${pad}@${domain}`,
    name: `Artist ${i}`,
    customId: `DN${pad}`,
    status: mixed && i % 40 === 11 ? 'inactive' : 'active',
    subscriptionStatus: mixed && i % 10 === 3 ? 'unsubscribed' : 'subscribed',
    emailTypes: mixed && i % 15 === 4 ? ['financial'] : ['financial', 'newsletter', 'outreach'],
    suppressed: mixed && i % 25 === 7,
  };
}

/** Whether seeded user i is in the audience of a default filter (subscribed) of a campaign of `stream`. */
export function isEligible(profile: SeedProfile, stream: Stream = 'newsletter'): boolean {
  return profile.status === 'active' && profile.subscriptionStatus === 'subscribed' && !profile.suppressed && profile.emailTypes.includes(stream);
}

const CHUNK = 10_000;

/** Inserts users 1..count (or from..from+count-1) with their seed profiles. */
export async function seedUsers(pool: Pool, count: number, options: SeedOptions & { from?: number } = {}): Promise<SeedProfile[]> {
  const from = options.from ?? 1;
  const profiles = Array.from({ length: count }, (_, k) => seedProfile(from + k, options));
  for (let start = 0; start < profiles.length; start += CHUNK) {
    const chunk = profiles.slice(start, start + CHUNK);
    await pool.query(
      `WITH given AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[])
           AS t(email, name, custom_id, status, subscription_status, streams, suppressed)
       ), inserted AS (
         INSERT INTO users (email, name, custom_id, status, suppressed_at, suppression_reason)
         SELECT email, name, custom_id, status, CASE WHEN suppressed THEN now() END, CASE WHEN suppressed THEN 'bounced' END
         FROM given
         RETURNING id, email
       )
       INSERT INTO subscriptions (user_id, stream, status, reason, source)
       SELECT i.id, stream, g.subscription_status, 'seeded', 'seed'
       FROM inserted i JOIN given g USING (email) CROSS JOIN LATERAL unnest(string_to_array(g.streams, ',')) AS stream`,
      [
        chunk.map((p) => p.email),
        chunk.map((p) => p.name),
        chunk.map((p) => p.customId),
        chunk.map((p) => p.status),
        chunk.map((p) => p.subscriptionStatus),
        chunk.map((p) => p.emailTypes.join(',')),
        chunk.map((p) => p.suppressed),
      ],
    );
  }
  return profiles;
}
