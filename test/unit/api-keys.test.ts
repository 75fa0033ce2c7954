import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grants, parseApiKeyFile, parseApiKeys, sha256Hex } from '../../api/keys.js';
import { routeScope } from '../../api/scopes.js';
import { apiKeys, ConfigError, loadConfig } from '../../worker/config.js';

test('API_KEYS: named keys with scopes; the key itself is kept only as its SHA-256', () => {
  const parsed = parseApiKeys(' crm:read,write,send:crm-key-0123456789abc ; ops:admin:ops-key-0123456789abcdef;');
  assert.deepEqual(parsed, {
    keys: [
      { name: 'crm', scopes: ['read', 'write', 'send'], sha256: sha256Hex('crm-key-0123456789abc') },
      { name: 'ops', scopes: ['admin'], sha256: sha256Hex('ops-key-0123456789abcdef') },
    ],
  });
  assert.ok(!JSON.stringify(parsed).includes('crm-key-0123456789abc'), 'no key in what the API holds');
  // A key may itself contain ':'.
  assert.deepEqual(parseApiKeys('a:read:x:y:0123456789abcdef'), { keys: [{ name: 'a', scopes: ['read'], sha256: sha256Hex('x:y:0123456789abcdef') }] });
});

test('API_KEYS: each bad entry named, by number and name', () => {
  assert.deepEqual(parseApiKeys('plain-old-key-0123456789;Crm:read:0123456789abcdefgh;crm:read,root:0123456789abcdefgh;ops:admin:short;x:read:0123456789abcdefgh;x:send:0123456789abcdefgh'), {
    problems: [
      'entry 1: must be name:scopes:key (e.g. crm:read,send:<key>)',
      'entry 2: the name must be lower-case letters, digits and -, starting with a letter (got "Crm")',
      'entry 3 (crm): scopes must be among read, write, send, admin (got "read,root")',
      'entry 4 (ops): the key must be at least 16 characters',
      'x: the name is used twice',
      'x: the same key is listed twice',
    ],
  });
  assert.throws(() => loadConfig({ API_KEYS: 'just-a-key-0123456789' }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems, ['API_KEYS: entry 1: must be name:scopes:key (e.g. crm:read,send:<key>)']);
    return true;
  });
});

test('API_KEYS_FILE: hashes only, joined with API_KEYS; a bad file is named', () => {
  const file = JSON.stringify([{ name: 'crm', scopes: ['read', 'send'], sha256: sha256Hex('crm-key-0123456789abc') }]);
  const config = loadConfig({ API_KEYS: 'ops:admin:ops-key-0123456789abcdef', API_KEYS_FILE: '/etc/dn/api-keys.json' });
  assert.deepEqual(apiKeys(config, () => file).map((k) => [k.name, k.scopes]), [['ops', ['admin']], ['crm', ['read', 'send']]]);
  assert.throws(() => apiKeys(config, () => '[{"name": "crm", "scopes": ["read"], "sha256": "nothex"}]'), /API_KEYS_FILE: entry 1 \(crm\): sha256: must be 64 lower-case hex digits/);
  assert.throws(() => apiKeys(config, () => 'not json'), /API_KEYS_FILE: not JSON/);
  assert.throws(() => apiKeys(config, () => { throw new Error('ENOENT'); }), /API_KEYS_FILE: cannot read \/etc\/dn\/api-keys.json: ENOENT/);
  assert.throws(() => apiKeys(config, () => JSON.stringify([{ name: 'ops', scopes: ['read'], sha256: sha256Hex('another-key-0123456789') }])), /ops: named in API_KEYS too/);
  assert.throws(() => apiKeys(loadConfig({})), /API_KEYS: required \(or API_KEYS_FILE\)/);
  assert.deepEqual(parseApiKeyFile('{}'), { problems: ['must be a JSON array of {"name", "scopes", "sha256"}'] });
});

test('scopes: admin may do everything; each route needs its own', () => {
  assert.equal(grants({ scopes: ['admin'] }, 'send'), true);
  assert.equal(grants({ scopes: ['read', 'write'] }, 'send'), false);
  assert.deepEqual(routeScope('POST', '/campaigns/42/approve'), { route: 'POST /campaigns/{id}/approve', scope: 'send' });
  assert.deepEqual(routeScope('get', '/campaigns/42'), { route: 'GET /campaigns/{id}', scope: 'read' });
  assert.deepEqual(routeScope('DELETE', '/suppressions/fan%40example.com'), { route: 'DELETE /suppressions/{user}', scope: 'admin' });
  assert.equal(routeScope('GET', '/nowhere'), undefined);
  assert.equal(routeScope('POST', '/campaigns/42/approve/extra'), undefined);
});
