import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_KEYS, ConfigError, loadConfig } from '../../worker/config.js';

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
});

test('.env.example documents exactly the settings the code reads', () => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
  const documented = [...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
  assert.deepEqual([...documented].sort(), [...CONFIG_KEYS].sort());
});
