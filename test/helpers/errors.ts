import assert from 'node:assert/strict';
import { CampaignError } from '../../client/campaigns.js';
import { InvalidInputError } from '../../client/validation.js';

/** A predicate for assert.rejects: a CampaignError with this code whose message matches. */
export function campaignError(code: CampaignError['code'], message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof CampaignError, `expected a CampaignError, got ${String(error)}`);
    assert.equal(error.code, code, `code of: ${error.message}`);
    assert.match(error.message, message);
    return true;
  };
}

/** A predicate for assert.rejects: an InvalidInputError whose message matches. */
export function invalidInput(message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidInputError, `expected an InvalidInputError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  };
}
