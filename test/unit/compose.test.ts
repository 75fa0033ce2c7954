import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { apiKeyOf } from '../../api/keys.js';
import { TEMPORAL_SERVER_VERSION } from '../../local-stack/temporal-server.js';
import { apiKeys, CONFIG_KEYS, loadConfig, SECRET_SETTINGS, unsubscribeSettings, type Config } from '../../worker/config.js';

/**
 * docker-compose.yml, tested without a Docker engine: what each application container is given
 * must be a configuration worker/config.ts accepts, hold the secrets that container needs and no
 * other, and give no secret a default.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | number | boolean | null>;
  secrets?: string[];
}
const compose = parse(text, { merge: true }) as { services: Record<string, Service>; secrets: Record<string, { file: string }> };
const services = compose.services;

/** What the operator's shell or .env gives compose: the required variables, and nothing else. */
const SHELL: Record<string, string> = {
  TEMPORAL_DB_PASSWORD: 'temporal-db-password',
  APP_DB_PASSWORD: 'app-db-password',
  PUBLIC_URL: 'https://campaigns.example',
  SENDER_POSTAL_ADDRESS: 'Distro Nation, 1 Music Row, Nashville TN',
};

/** Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}. */
function interpolate(value: string, shell: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_all, name: string, op: string | undefined, arg: string | undefined) => {
    const given = shell[name];
    const unset = given === undefined || (op?.startsWith(':') === true && given === '');
    if (!unset) return given;
    if (op === ':?' || op === '?') throw new Error(`compose refuses to start: ${arg ?? name}`);
    return arg ?? '';
  });
}

function environmentOf(name: string, shell = SHELL): Record<string, string> {
  const environment = services[name]?.environment ?? {};
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, interpolate(String(value ?? ''), shell)]));
}

/** Every secret file the container mounts, read as compose would give it. */
const SECRET_CONTENTS: Record<string, string> = {
  '/run/secrets/mailgun_api_key': 'key-mailgun-0123456789',
  '/run/secrets/openai_api_key': 'sk-openai-0123456789',
  '/run/secrets/unsubscribe_secret': 'u'.repeat(64),
  '/run/secrets/mailgun_webhook_signing_key': 'whsec-0123456789abcdef',
  '/run/secrets/api_keys.json': JSON.stringify([{ name: 'crm', scopes: ['read'], sha256: apiKeyOf('crm', ['read'], 'crm-key-0123456789abcdef').sha256 }]),
};

function configOf(name: string): Config {
  const mounted = new Set((services[name]?.secrets ?? []).map((secret) => `/run/secrets/${secret}`));
  return loadConfig(environmentOf(name), (path) => {
    if (!mounted.has(path)) throw new Error(`${name} reads ${path}, a secret it does not mount`);
    return SECRET_CONTENTS[path] ?? assert.fail(`no test content for ${path}`);
  });
}

const APP_SERVICES = ['migrate', 'worker', 'api'];
/** Read by the Firebase SDK itself, not by worker/config.ts. */
const SDK_SETTINGS = ['GOOGLE_APPLICATION_CREDENTIALS'];

test('the application containers are given only settings worker/config.ts knows, and each loads as a valid configuration', () => {
  const known = new Set<string>([...CONFIG_KEYS, ...SDK_SETTINGS]);
  for (const name of APP_SERVICES) {
    const unknown = Object.keys(environmentOf(name)).filter((key) => !known.has(key));
    assert.deepEqual(unknown, [], `${name}: settings no code reads`);
    assert.doesNotThrow(() => configOf(name), `${name}'s configuration loads`);
  }
  // Without a required variable compose refuses to start, naming it.
  const withoutPassword = Object.fromEntries(Object.entries(SHELL).filter(([key]) => key !== 'APP_DB_PASSWORD'));
  assert.throws(() => environmentOf('worker', withoutPassword), /set APP_DB_PASSWORD/);
});

test('the worker and the API each get the secrets they use, as files, and not the other’s', () => {
  const worker = configOf('worker');
  assert.ok(worker.MAILGUN_API_KEY && worker.OPENAI_API_KEY && worker.UNSUBSCRIBE_SECRET, 'the worker sends, drafts and signs unsubscribe links');
  assert.ok(unsubscribeSettings(worker), 'the worker can sign unsubscribe links');
  assert.equal(worker.MAILGUN_WEBHOOK_SIGNING_KEY, undefined);
  assert.equal(worker.API_KEYS_FILE, undefined);

  const api = configOf('api');
  assert.equal(apiKeys(api, (path) => SECRET_CONTENTS[path] ?? '').length, 1, 'the API reads its keys (hashes) from api_keys.json');
  assert.ok(api.MAILGUN_WEBHOOK_SIGNING_KEY && api.UNSUBSCRIBE_SECRET, 'the API checks webhooks and serves unsubscribe links');
  assert.equal(api.MAILGUN_API_KEY, undefined);
  assert.equal(api.OPENAI_API_KEY, undefined);
  assert.equal(api.API_HOST, '0.0.0.0');

  const migrate = configOf('migrate');
  assert.deepEqual(services['migrate']?.secrets ?? [], [], 'migrate needs only the database');
  assert.equal(migrate.MAILGUN_API_KEY, undefined);

  for (const name of APP_SERVICES) {
    const environment = environmentOf(name);
    const mounted = services[name]?.secrets ?? [];
    const files = Object.entries(environment).filter(([key]) => key.endsWith('_FILE'));
    for (const [key, path] of files) assert.ok(mounted.some((secret) => path === `/run/secrets/${secret}`), `${name}: ${key} names a secret it mounts`);
    for (const secret of mounted) assert.ok(files.some(([, path]) => path === `/run/secrets/${secret}`), `${name}: the ${secret} it mounts is read`);
    for (const secret of SECRET_SETTINGS.filter((s) => s !== 'DATABASE_URL')) assert.equal(environment[secret], undefined, `${name}: ${secret} as a file, never a variable`);
    for (const secret of mounted) assert.ok(compose.secrets[secret], `${name}: ${secret} is a declared secret`);
  }
});

test('no secret has a default: passwords and keys are required from the operator or read from files', () => {
  const interpolations = [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}/g)];
  assert.ok(interpolations.length > 20);
  const isSecret = (name: string) => /PASSWORD$/.test(name) || (SECRET_SETTINGS as readonly string[]).includes(name);
  for (const [whole, name, op, arg] of interpolations) {
    if (!isSecret(name ?? '')) continue;
    assert.ok(op === ':?' || op === '?', `${whole}: a secret is required, never defaulted`);
    assert.ok((arg ?? '').length > 0, `${whole}: says what to set`);
  }
  // The database URL carries the password only by reference.
  assert.match(String(services['worker']?.environment?.['DATABASE_URL']), /\$\{APP_DB_PASSWORD:\?/);
  for (const service of Object.values(services)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (isSecret(key) && key !== 'DATABASE_URL') assert.match(String(value), /^\$\{[A-Z_]+:\?/, `${key} is required, not written here`);
    }
  }
});

test('images are pinned, the Temporal server is the version setup:temporal-server builds, and commands run files that exist', () => {
  for (const [name, service] of Object.entries(services)) {
    if (service.build !== undefined) continue;
    assert.match(service.image ?? '', /^[\w./-]+:v?\d+(\.\d+)*$/, `${name}: an image with a version tag`);
  }
  for (const name of ['temporal', 'temporal-admin-tools', 'temporal-init']) {
    assert.equal(services[name]?.image?.split(':')[1], TEMPORAL_SERVER_VERSION, `${name} runs Temporal ${TEMPORAL_SERVER_VERSION}`);
  }
  for (const name of APP_SERVICES) assert.equal(services[name]?.image, 'dn-campaign-pipeline:local', `${name} runs the image this repository builds`);
  // The worker runs the image's CMD (dist/worker.js, built in the image); the others name their entry point.
  assert.equal(services['worker']?.command, undefined);
  assert.deepEqual(services['api']?.command, ['node', '--import', 'tsx', 'api/main.ts']);
  assert.deepEqual(services['migrate']?.command, ['node', '--import', 'tsx', 'client/cli.ts', 'migrate']);
  for (const file of ['api/main.ts', 'client/cli.ts', 'docker/temporal/scripts/setup-postgres.sh', 'docker/temporal/scripts/init-namespace.sh']) {
    assert.ok(existsSync(join(root, file)), `${file} exists`);
  }
  for (const { file } of Object.values(compose.secrets)) assert.match(file, /^\.\/secrets\//, 'secrets live under ./secrets (kept out of git and the image)');
  assert.equal(environmentOf('worker')['OTEL_EXPORTER_OTLP_ENDPOINT'], 'http://jaeger:4318');
  assert.ok(services['jaeger'], 'the traces go to the Jaeger it runs');
});
