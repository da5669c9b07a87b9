import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Document } from 'openapi-backend';
import { ApiContract } from '../support/openapi-contract';
import { freePort, spawnLogged, stopProcess, waitUntilReady } from '../support/processes';
import { SERVICE_MAIN } from '../support/service-process';

/**
 * The listeners `node dist/main` opens, as the chart's production example configures them: the API
 * over HTTPS from mounted PEM files (TLS_CERT_FILE, TLS_KEY_FILE; cert-manager's Secret in the pod)
 * and /metrics on a port of its own (METRICS_PORT) that a network policy keeps to the scraper.
 * The embedded stack (PGlite, local keys, local issuer): the listeners do not depend on it.
 */

/** A GET through node:http(s) (fetch cannot be told to trust one CA), as a fetch Response. */
function getWith(ca: Buffer | undefined, url: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const request = get(url, { ca, agent: false }, (message) => {
      const chunks: Buffer[] = [];
      message.on('data', (chunk: Buffer) => chunks.push(chunk));
      message.on('error', reject);
      message.on('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(message.headers)) {
          for (const one of ([] as string[]).concat(value ?? [])) headers.append(name, one);
        }
        resolve(new Response(message.statusCode === 204 ? null : Buffer.concat(chunks), { status: message.statusCode, headers }));
      });
    });
    request.on('error', reject);
  });
}

/** Listening TCP sockets on `port`, from the kernel's tables (/proc/net/tcp and tcp6; state 0A is LISTEN). */
function listeningSocketsOn(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6']
    .flatMap((table) => readFileSync(table, 'utf8').split('\n').slice(1))
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A').length;
}

describe('listeners of node dist/main: HTTPS from mounted PEM files, /metrics on METRICS_PORT', () => {
  let work: string;
  let cert: Buffer;
  let service: ReturnType<typeof spawnLogged> | undefined;
  let apiUrl: string;
  let metricsUrl: string;
  let contract: ApiContract;
  /** A GET that trusts the test certificate; its answer checked against the served document when it is the API's. */
  const get = (url: string) => getWith(cert, url);
  const checkedGet = async (url: string) => {
    const response = await get(url);
    await contract.checkFetched('GET', url, response.clone());
    return response;
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pii-listeners-'));
    // A self-signed certificate for 127.0.0.1, as cert-manager's Secret would mount it (tls.crt, tls.key).
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=pii-encryption-api',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(work, 'tls.key'),
        '-out',
        join(work, 'tls.crt'),
      ],
      { stdio: 'pipe' },
    );
    cert = readFileSync(join(work, 'tls.crt'));
    const [port, metricsPort] = [await freePort(), await freePort()];
    apiUrl = `https://127.0.0.1:${port}`;
    metricsUrl = `http://127.0.0.1:${metricsPort}`;
    const logDir = process.env.TEST_LOG_DIR;
    service = spawnLogged(process.execPath, ['--enable-source-maps', SERVICE_MAIN], {
      env: {
        PATH: process.env.PATH!,
        NODE_ENV: 'test',
        LOG_LEVEL: 'error',
        ...(logDir && { LOG_FILE: join(logDir, `listeners-${process.pid}.log`) }),
        DATA_DIR: join(work, 'data'),
        SWAGGER_ENABLED: 'true',
        ROTATION_ENABLED: 'false',
        PORT: String(port),
        METRICS_PORT: String(metricsPort),
        TLS_CERT_FILE: join(work, 'tls.crt'),
        TLS_KEY_FILE: join(work, 'tls.key'),
      },
    });
    await waitUntilReady('the HTTPS service', service.child, service.output, apiUrl, { get });
    contract = await ApiContract.from((await (await get(`${apiUrl}/docs-json`)).json()) as Document);
  });

  after(async () => {
    if (service) await stopProcess(service.child);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('answers the probes and the API over HTTPS with the mounted certificate', async () => {
    const live = await checkedGet(`${apiUrl}/health/live`);
    assert.equal(live.status, 200);
    const ready = await checkedGet(`${apiUrl}/health/ready`);
    assert.equal(ready.status, 200);
    const unauthenticated = await checkedGet(`${apiUrl}/api/v1/keys/4242`);
    assert.equal(unauthenticated.status, 401);
  });

  it('opens the API port with HTTP_LISTEN_SOCKETS listening sockets (64 by default), and new connections over all of them get HTTPS answers', async () => {
    const port = Number(new URL(apiUrl).port);
    assert.equal(listeningSocketsOn(port), process.platform === 'linux' ? 64 : 1);
    // Each on a new connection: the kernel spreads them over the sockets (128 over 64 reach most).
    const answers = await Promise.all(Array.from({ length: 128 }, () => get(`${apiUrl}/health/live`)));
    assert.deepEqual(
      answers.map((answer) => answer.status),
      Array(128).fill(200),
    );
  });

  it('serves no plain HTTP on the API port, and refuses a client that does not trust the certificate', async () => {
    await assert.rejects(getWith(undefined, `${apiUrl.replace('https:', 'http:')}/health/live`));
    await assert.rejects(getWith(undefined, `${apiUrl}/health/live`), /self-signed|certificate/i);
  });

  it('serves /metrics on METRICS_PORT, and nothing else there', async () => {
    const scrape = await getWith(undefined, `${metricsUrl}/metrics`);
    assert.equal(scrape.status, 200);
    assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await scrape.text();
    assert.match(text, /^# TYPE pii_api_http_requests_total counter$/m);
    // The probes above were counted by the API and are seen on the metrics port.
    assert.match(text, /^pii_api_http_requests_total\{[^}]*route="\/health\/live"[^}]*\} [1-9]/m);
    assert.equal((await getWith(undefined, `${metricsUrl}/health/live`)).status, 404);
    assert.equal((await getWith(undefined, `${metricsUrl}/api/v1/keys/4242`)).status, 404);
  });

  it('answers /metrics on the API port with 404 ROUTE001 once METRICS_PORT is set', async () => {
    const response = await checkedGet(`${apiUrl}/metrics`);
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as { code: string }).code, 'ROUTE001');
  });
});
