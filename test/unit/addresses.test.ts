import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressDomain, addressProblem, isDomainName, parseMailbox, senderProblem } from '../../common/addresses.js';

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

test('parseMailbox reads a bare address, a display name with its address, and a quoted display name', () => {
  assert.deepEqual(parseMailbox('no-reply@mg.distronation.com'), { address: 'no-reply@mg.distronation.com' });
  assert.deepEqual(parseMailbox('  Distro Nation <no-reply@mg.distronation.com> '), {
    address: 'no-reply@mg.distronation.com',
    displayName: 'Distro Nation',
  });
  assert.deepEqual(parseMailbox('"Distro Nation, Inc." <no-reply@mg.distronation.com>'), {
    address: 'no-reply@mg.distronation.com',
    displayName: 'Distro Nation, Inc.',
  });
  assert.deepEqual(parseMailbox('"The \\"Best\\" <Label>" <a@x.example>'), { address: 'a@x.example', displayName: 'The "Best" <Label>' });
  assert.deepEqual(parseMailbox('<a@x.example>'), { address: 'a@x.example' });
  assert.deepEqual(parseMailbox('J. Smith <a@x.example>'), { address: 'a@x.example', displayName: 'J. Smith' });
});

test('parseMailbox says what is wrong with a sender that is not a mailbox', () => {
  const problem = (value: string) => {
    const parsed = parseMailbox(value);
    assert.equal(typeof parsed, 'string', value);
    return parsed as string;
  };
  assert.equal(problem('Distro Nation'), 'must be addr@domain or Display Name <addr@domain>: not an address (no @)');
  assert.match(problem('Distro Nation <no-reply>'), /the address in <…> is not valid \(no @\)/);
  assert.match(problem('Distro Nation <>'), /the address in <…> is not valid \(empty\)/);
  assert.match(problem('Distro Nation <a@x.example> more'), /misplaced angle brackets/);
  assert.match(problem('Name <a<b@x.example>'), /misplaced angle brackets/);
  assert.match(problem('Distro Nation, Inc. <a@x.example>'), /must quote a display name/);
  assert.match(problem('"Distro" Nation <a@x.example>'), /text after a quoted display name/);
  assert.match(problem('"Unclosed <a@x.example>'), /not an address/);
});

test('parseMailbox refuses CR or LF anywhere, even where trimming would drop it', () => {
  for (const value of ['a@x.example\r\n', '\na@x.example', 'Distro\r\nBcc: victim@x.example <a@x.example>', '"Distro\nNation" <a@x.example>', 'a@x.example\r']) {
    assert.equal(parseMailbox(value), 'must not contain a line break (CR or LF)', JSON.stringify(value));
  }
});

test('addressDomain is the lower-cased part after the last @; isDomainName wants a DNS host name', () => {
  assert.equal(addressDomain('No-Reply@MG.DistroNation.com'), 'mg.distronation.com');
  assert.equal(addressDomain('"a@b"@x.example'), 'x.example');
  for (const ok of ['mg.distronation.com', 'news.distronation.com', 'xn--bcher-kva.example', 'a-b.c-d.example']) assert.ok(isDomainName(ok), ok);
  for (const bad of ['', 'localhost', 'mg..x.com', '-mg.x.com', 'mg_x.example', 'mg.x.com.', 'a b.com', `${'l'.repeat(64)}.com`]) {
    assert.ok(!isDomainName(bad), bad);
  }
});

test('senderProblem: a mailbox on one of the domains this deployment sends from, compared case-insensitively', () => {
  const domains = ['mg.distronation.com', 'news.distronation.com'];
  assert.equal(senderProblem('Distro Nation <no-reply@MG.DistroNation.com>', domains), undefined);
  assert.equal(senderProblem('news@news.distronation.com', domains), undefined);
  assert.equal(
    senderProblem('Distro Nation <no-reply@other.example>', domains),
    'must be an address on a domain this deployment sends from (mg.distronation.com, news.distronation.com); got other.example',
  );
  assert.match(senderProblem('a@sub.mg.distronation.com', domains) ?? '', /got sub\.mg\.distronation\.com$/, 'a subdomain is another domain');
  assert.match(senderProblem('Distro Nation', domains) ?? '', /not an address \(no @\)/);
});
