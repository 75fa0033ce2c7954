import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressProblem } from '../../common/addresses.js';

test('ordinary addresses pass the syntax check', () => {
  for (const address of ['artist@artists.example', "o'brien+tag@sub.example.co", 'a.b-c_d@x.io', '"quoted name"@example.com']) {
    assert.equal(addressProblem(address), undefined, address);
  }
});

test('malformed addresses are caught with the reason', () => {
  assert.equal(addressProblem(''), 'empty');
  assert.equal(addressProblem('no-at-sign.example.com'), 'no @');
  assert.equal(addressProblem('two@@at.example'), 'bad local part');
  assert.equal(addressProblem('a..b@x.example'), 'bad local part');
  assert.equal(addressProblem('.a@x.example'), 'bad local part');
  assert.equal(addressProblem('space inside@x.example'), 'bad local part');
  assert.equal(addressProblem('user@localhost'), 'bad domain');
  assert.equal(addressProblem('user@x..example'), 'bad domain');
  assert.equal(addressProblem(`${'a'.repeat(65)}@x.example`), 'bad local part');
  assert.equal(addressProblem(`a@${'x'.repeat(250)}.example`), 'too long');
});

test('what only Mailgun refuses (a DNS-invalid domain) passes the syntax check, by design', () => {
  // RFC 5322 allows "_" in a dot-atom domain; hostnames do not. The split finds these.
  assert.equal(addressProblem('fan@band_name.example'), undefined);
});
