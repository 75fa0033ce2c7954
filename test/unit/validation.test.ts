import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configureSchema, InvalidInputError, newCampaignSchema, parseInput, sendMailSchema } from '../../client/validation.js';

const LINE_BREAK = 'must not contain a line break (CR or LF)';
const NOT_AN_ADDRESS = 'must be addr@domain or Display Name <addr@domain>: not an address (no @)';

/** The problems parseInput reports, as `field: message`. */
function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof InvalidInputError);
    return error.problems;
  }
  assert.fail('expected InvalidInputError');
}

const campaign = (content: Record<string, unknown>) => ({ name: 'x', type: 'newsletter', content: { subject: 'Hi', text: 'Hi', ...content } });
const mail = (fields: Record<string, unknown>) => ({
  to: ['fan@fans.example'],
  subject: 'Your statement',
  html: '<p>Hi</p>',
  from: 'Distro Nation <no-reply@mg.distronation.com>',
  campaign: { name: 'x', type: 'financial', month: 5, year: 2026 },
  ...fields,
});

test('from is a mailbox: an address, or a (quoted) display name and an address; trimmed', () => {
  for (const from of ['no-reply@mg.distronation.com', 'Distro Nation <no-reply@mg.distronation.com>', '"Distro Nation, Inc." <no-reply@mg.distronation.com>']) {
    assert.equal(parseInput(newCampaignSchema, campaign({ from: ` ${from} ` }), 'campaign').content?.from, from);
    assert.equal(parseInput(sendMailSchema, mail({ from }), 'body').from, from);
    assert.equal(parseInput(configureSchema, { expectedVersion: 1, changes: { from } }, 'configure').changes.from, from);
  }
  assert.equal(parseInput(configureSchema, { expectedVersion: 1, changes: { from: null } }, 'configure').changes.from, null, 'null: back to MAILGUN_FROM');
});

test('a from without an address (issue 13: --from "Distro Nation") is refused, naming the field', () => {
  assert.deepEqual(problems(() => parseInput(newCampaignSchema, campaign({ from: 'Distro Nation' }), 'campaign')), [`campaign.content.from: ${NOT_AN_ADDRESS}`]);
  assert.deepEqual(problems(() => parseInput(configureSchema, { expectedVersion: 1, changes: { from: 'Distro Nation' } }, 'configure')), [
    `configure.changes.from: ${NOT_AN_ADDRESS}`,
  ]);
  assert.deepEqual(problems(() => parseInput(sendMailSchema, mail({ from: 'Distro Nation' }), 'body')), [`body.from: ${NOT_AN_ADDRESS}`]);
  assert.deepEqual(problems(() => parseInput(sendMailSchema, mail({ from: 'Distro Nation, Inc. <no-reply@mg.distronation.com>' }), 'body')), [
    'body.from: must quote a display name holding any of ( ) < > [ ] : ; @ \\ , ", e.g. "Distro Nation, Inc." <addr@domain>',
  ]);
});

test('CR or LF in a subject or from is refused, even at the end where trimming would drop it', () => {
  for (const subject of ['Hi\r\nBcc: victim@x.example', 'Hi\n', '\rHi']) {
    assert.deepEqual(problems(() => parseInput(newCampaignSchema, campaign({ subject }), 'campaign')), [`campaign.content.subject: ${LINE_BREAK}`]);
    assert.deepEqual(problems(() => parseInput(configureSchema, { expectedVersion: 1, changes: { subject } }, 'configure')), [
      `configure.changes.subject: ${LINE_BREAK}`,
    ]);
    assert.deepEqual(problems(() => parseInput(sendMailSchema, mail({ subject }), 'body')), [`body.subject: ${LINE_BREAK}`]);
  }
  for (const from of ['no-reply@mg.distronation.com\r\n', 'Distro\nNation <no-reply@mg.distronation.com>', '"Distro\r\nBcc: x@y.example" <no-reply@mg.distronation.com>']) {
    assert.deepEqual(problems(() => parseInput(newCampaignSchema, campaign({ from }), 'campaign')), [`campaign.content.from: ${LINE_BREAK}`]);
    assert.deepEqual(problems(() => parseInput(configureSchema, { expectedVersion: 1, changes: { from } }, 'configure')), [
      `configure.changes.from: ${LINE_BREAK}`,
    ]);
    assert.deepEqual(problems(() => parseInput(sendMailSchema, mail({ from }), 'body')), [`body.from: ${LINE_BREAK}`]);
  }
});
