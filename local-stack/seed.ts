import type { Pool } from 'pg';

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
  subscriptionStatus: 'subscribed' | 'unsubscribed';
  emailTypes: string[];
  suppressed: boolean;
}

export interface SeedOptions {
  /** Mix in unsubscribed, suppressed, inactive users and narrower email types. Default true. */
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
    emailTypes: mixed && i % 15 === 4 ? ['financial'] : ['financial', 'newsletter'],
    suppressed: mixed && i % 25 === 7,
  };
}

/** Whether seeded user i is in the audience of a default filter (subscribed, optionally by email type). */
export function isEligible(profile: SeedProfile, emailType?: string): boolean {
  return (
    profile.status === 'active' &&
    profile.subscriptionStatus === 'subscribed' &&
    !profile.suppressed &&
    (emailType === undefined || profile.emailTypes.includes(emailType))
  );
}

const CHUNK = 10_000;

/** Inserts users 1..count (or from..from+count-1) with their seed profiles. */
export async function seedUsers(pool: Pool, count: number, options: SeedOptions & { from?: number } = {}): Promise<SeedProfile[]> {
  const from = options.from ?? 1;
  const profiles = Array.from({ length: count }, (_, k) => seedProfile(from + k, options));
  for (let start = 0; start < profiles.length; start += CHUNK) {
    const chunk = profiles.slice(start, start + CHUNK);
    await pool.query(
      `INSERT INTO users (email, name, custom_id, status, subscription_status, email_types, suppressed_at, suppression_reason)
       SELECT email, name, custom_id, status, subscription_status, string_to_array(types, ','),
              CASE WHEN suppressed THEN now() END, CASE WHEN suppressed THEN 'bounced' END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[])
         AS t(email, name, custom_id, status, subscription_status, types, suppressed)`,
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
