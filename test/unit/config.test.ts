import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_KEYS, ConfigError, domainRate, loadConfig, senderDomains, sendingDomains, sendingStreams, unsubscribeSettings } from '../../worker/config.js';

test('defaults give a working local configuration', () => {
  const config = loadConfig({});
  assert.equal(config.TEMPORAL_ADDRESS, '127.0.0.1:7233');
  assert.equal(config.SEND_BATCH_SIZE, 1000);
  assert.equal(config.TEMPORAL_TLS, false);
  assert.match(config.DATABASE_URL, /^postgres:\/\//);
});

test('empty strings count as unset', () => {
  assert.equal(loadConfig({ MAILGUN_API_KEY: '', SEND_WINDOW: '' }).MAILGUN_API_KEY, undefined);
});

test('malformed settings are refused, each named', () => {
  assert.throws(
    () => loadConfig({ SEND_BATCH_SIZE: '5000', DATABASE_URL: 'mysql://x', SEND_WINDOW: 'four', TEMPORAL_TLS: 'yes' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const text = error.message;
      assert.match(text, /SEND_BATCH_SIZE: Mailgun accepts at most 1000 recipients per call/);
      assert.match(text, /DATABASE_URL: must be a postgres:\/\/ connection URL/);
      assert.match(text, /SEND_WINDOW:/);
      assert.match(text, /TEMPORAL_TLS:/);
      assert.equal(error.problems.length, 4);
      return true;
    },
  );
  assert.throws(() => loadConfig({ FIRESTORE_EMULATOR_HOST: 'nohost' }), /FIRESTORE_EMULATOR_HOST: must be host:port/);
  assert.throws(() => loadConfig({ MAILGUN_URL: 'not a url' }), /MAILGUN_URL/);
  assert.throws(() => loadConfig({ METRICS_ADDRESS: '9464' }), /METRICS_ADDRESS: must be host:port/);
  assert.equal(loadConfig({ METRICS_ADDRESS: '0.0.0.0:9464' }).METRICS_ADDRESS, '0.0.0.0:9464');
  assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'jaeger:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT: must be an http\(s\):\/\/ URL/);
  assert.equal(loadConfig({}).OTEL_EXPORTER_OTLP_ENDPOINT, undefined, 'tracing is off unless an endpoint is configured');
});

test('.env.example documents exactly the settings the code reads', () => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
  const documented = [...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
  assert.deepEqual([...documented].sort(), [...CONFIG_KEYS].sort());
});

test('sender domains: per stream, its sending domain (MAILGUN_DOMAIN unless its own), and any MAILGUN_FROM_DOMAINS besides, lower-cased', () => {
  assert.deepEqual(senderDomains(loadConfig({})), { financial: ['mg.distronation.com'], newsletter: ['mg.distronation.com'], outreach: ['mg.distronation.com'] });
  const config = loadConfig({ MAILGUN_DOMAIN: 'MG.DistroNation.com', MAILGUN_FROM_DOMAINS: ' News.DistroNation.com, mg.distronation.com ,' });
  assert.deepEqual(config.MAILGUN_FROM_DOMAINS, ['news.distronation.com', 'mg.distronation.com']);
  assert.deepEqual(senderDomains(config).newsletter, ['mg.distronation.com', 'news.distronation.com']);
  assert.throws(
    () => loadConfig({ MAILGUN_FROM_DOMAINS: 'news.distronation.com,not_a.domain,localhost,NEWS.distronation.com' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        'MAILGUN_FROM_DOMAINS: not_a.domain is not a domain name',
        'MAILGUN_FROM_DOMAINS: localhost is not a domain name',
        'MAILGUN_FROM_DOMAINS: news.distronation.com is listed twice',
      ]);
      return true;
    },
  );
  assert.throws(() => loadConfig({ MAILGUN_FROM_DOMAINS: ' , ' }), /MAILGUN_FROM_DOMAINS: must list at least one domain/);
});

test('MAILGUN_FROM must be a mailbox on a sender domain', () => {
  assert.equal(loadConfig({ MAILGUN_FROM: 'news@news.distronation.com', MAILGUN_FROM_DOMAINS: 'news.distronation.com' }).MAILGUN_FROM, 'news@news.distronation.com');
  assert.equal(loadConfig({ MAILGUN_FROM: '"Distro Nation, Inc." <no-reply@mg.distronation.com>' }).MAILGUN_FROM, '"Distro Nation, Inc." <no-reply@mg.distronation.com>');
  assert.throws(() => loadConfig({ MAILGUN_FROM: 'Distro Nation' }), /^ConfigError: Invalid configuration:\n {2}- MAILGUN_FROM: must be addr@domain or Display Name <addr@domain>: not an address \(no @\)$/m);
  assert.throws(() => loadConfig({ MAILGUN_FROM: 'Distro Nation <no-reply@mg.distronation.com>\r\nBcc: x@y.example' }), /MAILGUN_FROM: must not contain a line break/);
  assert.throws(
    () => loadConfig({ MAILGUN_FROM: 'Distro Nation <no-reply@other.example>' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        'MAILGUN_FROM: must be an address on a domain this deployment sends from (mg.distronation.com); got other.example (MAILGUN_FROM_DOMAINS lists further domains)',
      ]);
      return true;
    },
  );
  // The default sender is on the default domain; another MAILGUN_DOMAIN needs its own MAILGUN_FROM (or the old domain listed).
  assert.throws(() => loadConfig({ MAILGUN_DOMAIN: 'mg.other.example' }), /MAILGUN_FROM: .*\(mg\.other\.example\); got mg\.distronation\.com/);
  assert.equal(loadConfig({ MAILGUN_DOMAIN: 'mg.other.example', MAILGUN_FROM_DOMAINS: 'mg.distronation.com' }).MAILGUN_DOMAIN, 'mg.other.example');
});

test('sending streams: each stream its own domain, sender and IP pool, else MAILGUN_DOMAIN and MAILGUN_FROM and no pool', () => {
  assert.deepEqual(sendingStreams(loadConfig({})), {
    financial: { domain: 'mg.distronation.com', from: 'Distro Nation <no-reply@mg.distronation.com>' },
    newsletter: { domain: 'mg.distronation.com', from: 'Distro Nation <no-reply@mg.distronation.com>' },
    outreach: { domain: 'mg.distronation.com', from: 'Distro Nation <no-reply@mg.distronation.com>' },
  });
  const config = loadConfig({
    MAILGUN_DOMAIN_FINANCIAL: 'Statements.DistroNation.com',
    MAILGUN_FROM_FINANCIAL: 'Distro Nation Royalties <royalties@statements.distronation.com>',
    MAILGUN_IP_POOL_FINANCIAL: '60140bc1fee3e84dec5abeeb',
    MAILGUN_DOMAIN_OUTREACH: 'outreach.distronation.com',
    MAILGUN_FROM_OUTREACH: 'a&r@outreach.distronation.com',
    MAILGUN_IP_POOL_NEWSLETTER: 'shared-marketing',
  });
  assert.deepEqual(sendingStreams(config), {
    financial: { domain: 'statements.distronation.com', from: 'Distro Nation Royalties <royalties@statements.distronation.com>', ipPool: '60140bc1fee3e84dec5abeeb' },
    newsletter: { domain: 'mg.distronation.com', from: 'Distro Nation <no-reply@mg.distronation.com>', ipPool: 'shared-marketing' },
    outreach: { domain: 'outreach.distronation.com', from: 'a&r@outreach.distronation.com' },
  });
  assert.deepEqual(senderDomains(config), {
    financial: ['statements.distronation.com'],
    newsletter: ['mg.distronation.com'],
    outreach: ['outreach.distronation.com'],
  });
  assert.deepEqual(sendingDomains(config), ['statements.distronation.com', 'mg.distronation.com', 'outreach.distronation.com']);
});

test('sending streams: a bad domain, sender or pool is refused naming its setting; a stream on its own domain needs a sender there', () => {
  assert.throws(
    () => loadConfig({ MAILGUN_DOMAIN_NEWSLETTER: 'not a domain', MAILGUN_FROM_OUTREACH: 'Outreach', MAILGUN_IP_POOL_FINANCIAL: 'pool id!' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        'MAILGUN_DOMAIN_NEWSLETTER: not a domain is not a domain name',
        'MAILGUN_FROM_OUTREACH: must be addr@domain or Display Name <addr@domain>: not an address (no @)',
        "MAILGUN_IP_POOL_FINANCIAL: must be a Mailgun IP pool's id (letters, digits, - and _)",
      ]);
      return true;
    },
  );
  // Statements moved to their own domain while MAILGUN_FROM stays on the main one: say which setting is missing.
  assert.throws(
    () => loadConfig({ MAILGUN_DOMAIN_FINANCIAL: 'statements.distronation.com' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        'MAILGUN_FROM: must be an address on a domain this deployment sends from (statements.distronation.com); got mg.distronation.com; ' +
          'financial messages go from statements.distronation.com (MAILGUN_DOMAIN_FINANCIAL): set MAILGUN_FROM_FINANCIAL',
      ]);
      return true;
    },
  );
  assert.throws(
    () => loadConfig({ MAILGUN_FROM_NEWSLETTER: 'news@news.distronation.com' }),
    /MAILGUN_FROM_NEWSLETTER: must be an address on a domain this deployment sends from \(mg\.distronation\.com\); got news\.distronation\.com/,
  );
  // A sender on a domain MAILGUN_FROM_DOMAINS lists is taken for any stream.
  const listed = loadConfig({ MAILGUN_DOMAIN_FINANCIAL: 'statements.distronation.com', MAILGUN_FROM_DOMAINS: 'mg.distronation.com' });
  assert.equal(sendingStreams(listed).financial.from, 'Distro Nation <no-reply@mg.distronation.com>');
});

test('SEND_DOMAIN_RATES: a messages-per-second budget per domain; an unlisted domain gets SEND_RATE_PER_SECOND', () => {
  const config = loadConfig({ SEND_DOMAIN_RATES: 'mg.distronation.com=500, News.DistroNation.com=200,slow.distronation.com=0.5', SEND_RATE_PER_SECOND: '300' });
  assert.deepEqual(config.SEND_DOMAIN_RATES, { 'mg.distronation.com': 500, 'news.distronation.com': 200, 'slow.distronation.com': 0.5 });
  assert.equal(domainRate(config, 'news.distronation.com'), 200);
  assert.equal(domainRate(config, 'NEWS.distronation.com'), 200);
  assert.equal(domainRate(config, 'slow.distronation.com'), 0.5);
  assert.equal(domainRate(config, 'other.example'), 300);
  assert.equal(domainRate(config, 'constructor'), 300, 'no inherited property is a rate');
  assert.equal(loadConfig({}).SEND_DOMAIN_RATES, undefined);
  assert.equal(domainRate(loadConfig({}), 'mg.distronation.com'), 500);

  assert.throws(
    () => loadConfig({ SEND_DOMAIN_RATES: 'mg.distronation.com=500,news.distronation.com,bad_domain.example=5,=5,a.example=0,b.example=-1,c.example=fast,MG.distronation.com=9' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        'SEND_DOMAIN_RATES: news.distronation.com: must be domain=messagesPerSecond',
        'SEND_DOMAIN_RATES: bad_domain.example=5: bad_domain.example is not a domain name',
        'SEND_DOMAIN_RATES: =5: (nothing) is not a domain name',
        'SEND_DOMAIN_RATES: a.example=0: the rate must be a positive number of messages per second',
        'SEND_DOMAIN_RATES: b.example=-1: the rate must be a positive number of messages per second',
        'SEND_DOMAIN_RATES: c.example=fast: the rate must be a positive number of messages per second',
        'SEND_DOMAIN_RATES: mg.distronation.com is listed twice',
      ]);
      return true;
    },
  );
  assert.throws(() => loadConfig({ SEND_DOMAIN_RATES: ',' }), /SEND_DOMAIN_RATES: must list domain=messagesPerSecond pairs/);
});

test('unsubscribe settings: both PUBLIC_URL and UNSUBSCRIBE_SECRET or none; bad values are named; opens tracked per stream', () => {
  assert.equal(unsubscribeSettings(loadConfig({ PUBLIC_URL: 'https://campaigns.example' })), undefined);
  const secret = 's'.repeat(32);
  assert.deepEqual(unsubscribeSettings(loadConfig({ PUBLIC_URL: 'https://campaigns.example', UNSUBSCRIBE_SECRET: secret, SENDER_POSTAL_ADDRESS: ' 1 Road ' })), {
    publicUrl: 'https://campaigns.example',
    secret,
    postalAddress: '1 Road',
    onStatements: false,
  });
  assert.throws(
    () => loadConfig({ PUBLIC_URL: 'ftp://x', UNSUBSCRIBE_SECRET: 'short', UNSUBSCRIBE_MAILTO: 'nobody', TRACK_OPENS_STREAMS: 'newsletter,promos' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const named = error.problems.map((p) => p.split(':')[0]).sort();
      assert.deepEqual(named, ['PUBLIC_URL', 'TRACK_OPENS_STREAMS', 'UNSUBSCRIBE_MAILTO', 'UNSUBSCRIBE_SECRET']);
      assert.ok(error.problems.some((p) => p.includes('promos is not a stream')));
      return true;
    },
  );
  assert.deepEqual(loadConfig({}).TRACK_OPENS_STREAMS, ['newsletter', 'outreach']);
  assert.deepEqual(loadConfig({ TRACK_OPENS_STREAMS: 'none' }).TRACK_OPENS_STREAMS, []);
});

test('secrets from files: <NAME>_FILE is read into <NAME> (one trailing newline dropped); both set, or an unreadable file, is named', () => {
  const files: Record<string, string> = { '/run/secrets/mailgun': 'key-from-file\n', '/run/secrets/unsubscribe': 'u'.repeat(40) };
  const read = (path: string): string => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`);
    return text;
  };
  const config = loadConfig({ MAILGUN_API_KEY_FILE: '/run/secrets/mailgun', UNSUBSCRIBE_SECRET_FILE: '/run/secrets/unsubscribe' }, read);
  assert.deepEqual([config.MAILGUN_API_KEY, config.UNSUBSCRIBE_SECRET], ['key-from-file', 'u'.repeat(40)]);
  assert.throws(() => loadConfig({ MAILGUN_API_KEY: 'key-env', MAILGUN_API_KEY_FILE: '/run/secrets/mailgun' }, read), /MAILGUN_API_KEY_FILE: MAILGUN_API_KEY is set too: set one of them/);
  assert.throws(() => loadConfig({ OPENAI_API_KEY_FILE: '/run/secrets/missing' }, read), /OPENAI_API_KEY_FILE: cannot read \/run\/secrets\/missing: ENOENT/);
  // What the file holds is checked like the variable.
  files['/run/secrets/short'] = 'too short';
  assert.throws(() => loadConfig({ UNSUBSCRIBE_SECRET_FILE: '/run/secrets/short' }, read), /UNSUBSCRIBE_SECRET: must be at least 32 characters/);
});
