/** A request about a campaign that was refused or failed, with a code saying how (api/errors.ts maps it to HTTP). */
export class CampaignError extends Error {
  constructor(
    message: string,
    readonly code: 'not-found' | 'conflict' | 'wrong-phase' | 'invalid' | 'not-started' | 'rejected' | 'upstream' | 'failed' | 'idempotency-mismatch',
  ) {
    super(message);
    this.name = 'CampaignError';
  }
}
