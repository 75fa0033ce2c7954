import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { verifySignedUrl } from '../activities/cloudfront.js';
import { closeServer, listen } from './http.js';

/**
 * A CloudFront-like distribution for the local stack: it serves objects of a
 * bucket only through signed URLs (canned or custom policy) that verify against the key
 * pair's public key and have not expired, as CloudFront does, so a newcomer can
 * open the report links of a local financial run. 403 otherwise.
 */

export interface LocalCloudFront {
  /** Base URL for CLOUDFRONT_URL, e.g. http://127.0.0.1:9027. */
  url: string;
  stop(): Promise<void>;
}

export interface LocalCloudFrontOptions {
  s3: S3Client;
  bucket: string;
  publicKey: KeyObject;
  port?: number;
  host?: string;
}

export async function startLocalCloudFront({ s3, bucket, publicKey, port = 0, host = '127.0.0.1' }: LocalCloudFrontOptions): Promise<LocalCloudFront> {
  let base = '';
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const check = (() => {
      try {
        return verifySignedUrl(`${base}${req.url ?? '/'}`, publicKey);
      } catch {
        return undefined;
      }
    })();
    if (!check?.valid || check.expiresAt.getTime() < Date.now()) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Access denied: the link is not signed for this object, or it has expired\n');
      return;
    }
    const key = new URL(check.resource).pathname.slice(1).split('/').map(decodeURIComponent).join('/');
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    res.writeHead(200, { 'content-type': object.ContentType ?? 'application/octet-stream' });
    (object.Body as Readable).pipe(res);
  };
  const notFound = (res: ServerResponse): void => {
    if (!res.headersSent) res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
  };
  const { server, url } = await listen(host, port, serve, notFound);
  base = url;
  return { url, stop: () => closeServer(server) };
}

export const LOCAL_KEY_PAIR_ID = 'KLOCALDEVKEY';

/** A key pair for local signing: what a CloudFront key group and its private key are in production. */
export function generateSigningKeyPair(): { keyPairId: string; privateKeyPem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keyPairId: LOCAL_KEY_PAIR_ID, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}
