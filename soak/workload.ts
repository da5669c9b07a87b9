import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { randomUserIdBase } from '../bench/workload';
import { createTransport } from '../clients/typescript/src/transport';

/** One answer the soak received (or a transport failure: status 0). */
export interface Sample {
  /** Seconds since the soak started, when the request was sent. */
  t: number;
  ms: number;
  op: string;
  method: string;
  /** The route as the OpenAPI document names it, e.g. /api/v1/keys/{userId}. */
  route: string;
  status: number;
  code?: string;
  /** The final answer's Retry-After, if any (429 and shed 503s carry one). */
  retryAfter?: string;
  /** Attempts the typed client's retry policy made (1: none repeated). */
  attempts: number;
  /** Why no answer came (status 0): the error's code or name, e.g. ECONNRESET, UND_ERR_SOCKET, TimeoutError. */
  error?: string;
  requestId: string;
}

export interface Person {
  id: string;
  /** Every ciphertext the service returned for this person, with its plaintext. */
  items: Map<string, string>;
  /** Seconds (soak clock) when the DELETE's answer arrived: 202, the keys pending deletion (SHRED_PENDING_DAYS), or 200 destroyed. */
  shreddedAt?: number;
  shredding?: boolean;
  /** A rotation is under way (another at once would be 409 KEY002 by design). */
  rotating?: boolean;
  /** Rotations sent: /rotate makes at most 10 versions of one person a day (then 429 KEY003), the workload 9. */
  rotations?: number;
}

/** What the soak observed that a check must look at. */
export interface Ledger {
  people: Map<string, Person>;
  samples: Sample[];
  /** State-changing requests answered 2xx: request id and the audit action they must have. */
  stateChanges: Array<{ requestId: string; action: string }>;
  /** Plaintexts answered that were not the ones recorded for that person's ciphertexts. */
  wrongPlaintexts: string[];
  /** Decrypts answered 200 for a person whose shred had already been answered. */
  afterShred: string[];
  /** Person A's ciphertext decrypted as person B and answered 200. */
  crossPerson: string[];
  /** Revoked tokens that were still accepted after the revocation's 200. */
  revokedAccepted: string[];
  counts: Record<string, number>;
}

export function newLedger(): Ledger {
  return {
    people: new Map(),
    samples: [],
    stateChanges: [],
    wrongPlaintexts: [],
    afterShred: [],
    crossPerson: [],
    revokedAccepted: [],
    counts: {},
  };
}

/** Plaintexts shaped like the platform's fields: ASCII, unicode (accents, CJK, emoji, RTL) and empty strings. */
const UNICODE = ['Zoë Ñúñez', '山田 太郎', '👨‍👩‍👧 family', 'مرحبا', 'Łódź ul. Żółta 7', '', 'Ωmega', '\u00a0nbsp', 'e\u0301'];
function plaintext(): string {
  const r = Math.random();
  if (r < 0.1) return '';
  if (r < 0.35) return `${UNICODE[randomInt(UNICODE.length)]} ${randomInt(1000)}`;
  return randomBytes(24).toString('base64');
}

/** 1 to 1,000 items, mostly small, as the platform sends them. */
function batchSize(): number {
  const r = Math.random();
  if (r < 0.4) return 1;
  if (r < 0.75) return 1 + randomInt(10);
  if (r < 0.97) return 10 + randomInt(91);
  return 1000;
}

const pick = <T>(list: T[]): T | undefined => (list.length ? list[randomInt(list.length)] : undefined);

/**
 * full: every kind of request (keys, encrypt, decrypt, rotate, rewrap, grants and translate,
 * cross-person probes, shreds, revocations); crypto: encrypt and decrypt batches of 1 to 10 items
 * and rotations (6 %; each makes an RSA key pair), and keys for new people: every answer should be 2xx.
 */
export type Mix = 'full' | 'crypto';

export class Workload {
  private userIds = randomUserIdBase();
  private readonly live: Person[] = [];
  private readonly started = performance.now();
  private readonly tokens: Record<string, string>;
  inFlight = 0;

  constructor(
    private readonly url: () => string,
    private readonly token: (sub: string, lifetime?: `${number}h`) => string,
    readonly ledger: Ledger,
    private readonly mix: Mix = 'full',
  ) {
    this.tokens = Object.fromEntries(
      ['soak-app', 'soak-grants', 'soak-approver-1', 'soak-approver-2', 'soak-admin'].map((sub) => [sub, token(sub)]),
    );
  }

  now(): number {
    return (performance.now() - this.started) / 1000;
  }

  async call(
    op: string,
    method: string,
    path: string,
    route: string,
    body?: unknown,
    sub = 'soak-app',
    token = this.tokens[sub],
  ): Promise<{ status: number; body: any; requestId: string }> {
    const requestId = randomUUID();
    const t = this.now();
    this.inFlight++;
    let status = 0;
    let json: any;
    let retryAfter: string | undefined;
    let attempts = 0;
    // As a caller using the typed client: its retry policy (clients/typescript/src/retry-policy.ts)
    // repeats what may run twice, and waits out Retry-After; nothing else is repeated.
    const send = createTransport({
      token,
      fetch: (request) => {
        attempts++;
        return fetch(request);
      },
    });
    try {
      const response = await send(
        new Request(`${this.url()}${path}`, {
          method,
          headers: { 'content-type': 'application/json', 'x-request-id': requestId },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        }),
      );
      status = response.status;
      retryAfter = response.headers.get('retry-after') ?? undefined;
      const text = await response.text();
      json = text ? JSON.parse(text) : undefined;
    } catch (error) {
      const { name, cause } = error as Error & { cause?: { code?: string; name?: string } };
      json = { transport: cause?.code ?? cause?.name ?? name };
    } finally {
      this.inFlight--;
    }
    this.ledger.samples.push({
      t,
      ms: (this.now() - t) * 1000,
      op,
      method,
      route,
      status,
      code: json?.code,
      retryAfter,
      attempts,
      requestId,
      ...(status === 0 && { error: String(json?.transport) }),
    });
    this.ledger.counts[op] = (this.ledger.counts[op] ?? 0) + 1;
    return { status, body: json, requestId };
  }

  private changed(requestId: string | undefined, action: string): void {
    if (requestId) this.ledger.stateChanges.push({ requestId, action });
  }

  private livePerson(): Person | undefined {
    return pick(this.live.filter((p) => !p.shredding && p.shreddedAt === undefined));
  }

  private remember(person: Person, ciphertexts: string[], plaintexts: string[]): void {
    ciphertexts.forEach((ct, i) => person.items.set(ct, plaintexts[i]));
  }

  private sample(person: Person, n: number): Array<[string, string]> {
    const all = [...person.items];
    return Array.from({ length: Math.min(n, all.length) }, () => all[randomInt(all.length)]);
  }

  /** One request of the mix (some operations are two to four requests, as a caller makes them). */
  async step(): Promise<void> {
    const r = Math.random();
    if (this.mix === 'crypto') {
      if (r < 0.02 || this.live.length < 5) return this.createKey();
      if (r < 0.5) return this.encrypt(undefined, 1 + randomInt(10));
      if (r < 0.94) return this.decrypt(10);
      return this.rotate();
    }
    if (r < 0.1 || this.live.length < 5) return this.createKey();
    if (r < 0.4) return this.encrypt();
    if (r < 0.75) return this.decrypt();
    if (r < 0.81) return this.rotate();
    if (r < 0.87) return this.rewrap();
    if (r < 0.9) return this.grantAndTranslate();
    if (r < 0.93) return this.crossPersonProbe();
    if (r < 0.95) return this.shred();
    if (r < 0.97) return this.revokeToken();
    return this.decrypt();
  }

  async createKey(): Promise<void> {
    const id = String(this.userIds++);
    const { status, requestId } = await this.call('create', 'POST', '/api/v1/keys', '/api/v1/keys', { userId: id });
    if (status === 201 || status === 200) {
      this.changed(requestId, 'key.create');
      const person: Person = { id, items: new Map() };
      this.ledger.people.set(id, person);
      this.live.push(person);
    }
  }

  async encrypt(person = this.livePerson(), size = batchSize()): Promise<void> {
    if (!person) return;
    const data = Array.from({ length: size }, plaintext);
    const { status, body } = await this.call('encrypt', 'POST', '/api/v1/encrypt', '/api/v1/encrypt', { userId: person.id, data });
    if (status === 200) this.remember(person, body.encryptedData, data);
  }

  async decrypt(maxItems = Infinity): Promise<void> {
    const person = this.livePerson() ?? pick(this.live);
    if (!person || person.items.size === 0) return;
    const pairs = this.sample(person, Math.min(maxItems, batchSize()));
    const shredAnswered = person.shreddedAt !== undefined;
    const { status, body } = await this.call('decrypt', 'POST', '/api/v1/decrypt', '/api/v1/decrypt', {
      userId: person.id,
      data: pairs.map(([ct]) => ct),
      purpose: 'soak',
    });
    if (status !== 200) return;
    if (shredAnswered) this.ledger.afterShred.push(person.id);
    pairs.forEach(([, pt], i) => {
      if (body.decryptedData[i] !== pt) this.ledger.wrongPlaintexts.push(`${person.id}[${i}]`);
    });
  }

  /** Nested data, as callers store it: every ciphertext anywhere in it re-encrypted under a new version. */
  async rotate(): Promise<void> {
    const person = pick(this.live.filter((p) => !p.shredding && p.shreddedAt === undefined && !p.rotating && (p.rotations ?? 0) < 9));
    if (!person || person.items.size === 0) return;
    person.rotating = true;
    person.rotations = (person.rotations ?? 0) + 1;
    try {
      await this.rotateOne(person);
    } finally {
      person.rotating = false;
    }
  }

  private async rotateOne(person: Person): Promise<void> {
    const pairs = this.sample(person, 1 + randomInt(20));
    const data = {
      profile: { name: pairs[0][0], notes: [] as unknown[] },
      accounts: pairs.slice(1).map(([ct]) => ({ number: ct, meta: { n: 1 } })),
    };
    const { status, body, requestId } = await this.call('rotate', 'POST', '/api/v1/rotate', '/api/v1/rotate', {
      userId: person.id,
      data,
      reason: 'manual',
    });
    if (status !== 200) return;
    this.changed(requestId, 'rotate');
    const out = body.rotatedData;
    this.remember(
      person,
      [out.profile.name, ...out.accounts.map((a: { number: string }) => a.number)],
      pairs.map(([, pt]) => pt),
    );
  }

  async rewrap(): Promise<void> {
    const person = this.livePerson();
    if (!person || person.items.size === 0) return;
    const pairs = this.sample(person, batchSize());
    const { status, body } = await this.call('rewrap', 'POST', '/api/v1/rewrap', '/api/v1/rewrap', {
      userId: person.id,
      data: pairs.map(([ct]) => ct),
    });
    if (status === 200)
      this.remember(
        person,
        body.rewrappedData,
        pairs.map(([, pt]) => pt),
      );
  }

  /** A grant from one person to another, approved by two others, then their data translated to the delegate. */
  async grantAndTranslate(): Promise<void> {
    const from = this.livePerson();
    const to = this.livePerson();
    if (!from || !to || from === to || from.items.size === 0) return;
    const grant = await this.call(
      'grant',
      'POST',
      '/api/v1/grants',
      '/api/v1/grants',
      { fromUserId: from.id, toUserId: to.id, reason: 'Executor, soak probate file' },
      'soak-grants',
    );
    if (grant.status !== 201 && grant.status !== 200) return;
    this.changed(grant.requestId, 'grant.create');
    for (const approver of ['soak-approver-1', 'soak-approver-2']) {
      const { status, requestId } = await this.call(
        'approve',
        'POST',
        `/api/v1/grants/${grant.body.id}/approve`,
        '/api/v1/grants/{id}/approve',
        undefined,
        approver,
      );
      if (status !== 200 && status !== 201) return;
      this.changed(requestId, 'grant.approve');
    }
    const pairs = this.sample(from, 1 + randomInt(10));
    const data = { will: pairs[0][0], accounts: pairs.slice(1).map(([ct]) => ({ number: ct })) };
    const { status, body } = await this.call('translate', 'POST', '/api/v1/translate', '/api/v1/translate', {
      fromUserId: from.id,
      toUserId: to.id,
      data,
    });
    if (status !== 200) return;
    const out = body.translatedData;
    this.remember(
      to,
      [out.will, ...out.accounts.map((a: { number: string }) => a.number)],
      pairs.map(([, pt]) => pt),
    );
  }

  /** Person A's ciphertext sent as person B's: must never be answered with a plaintext. */
  async crossPersonProbe(): Promise<void> {
    const a = this.livePerson();
    const b = this.livePerson();
    if (!a || !b || a === b || a.items.size === 0) return;
    const [[ct]] = this.sample(a, 1);
    const { status } = await this.call('cross-person', 'POST', '/api/v1/decrypt', '/api/v1/decrypt', { userId: b.id, data: [ct] });
    if (status === 200) this.ledger.crossPerson.push(`${a.id}->${b.id}`);
  }

  async shred(): Promise<void> {
    const person = this.livePerson();
    if (!person || this.live.filter((p) => p.shreddedAt === undefined).length < 10) return;
    person.shredding = true;
    const { status, requestId } = await this.call(
      'shred',
      'DELETE',
      `/api/v1/keys/${person.id}`,
      '/api/v1/keys/{userId}',
      undefined,
      'soak-admin',
    );
    if (status === 200 || status === 202) {
      person.shreddedAt = this.now();
      this.changed(requestId, 'key.delete');
    } else person.shredding = false;
  }

  /** A token used, revoked, then used again: the second use must be 401. */
  async revokeToken(): Promise<void> {
    const person = this.livePerson();
    if (!person) return;
    const sub = `soak-revoked-${randomUUID()}`;
    const token = this.token(sub, '1h');
    await this.call('revoked-use', 'POST', '/api/v1/encrypt', '/api/v1/encrypt', { userId: person.id, data: ['x'] }, sub, token);
    const { status, requestId } = await this.call(
      'revoke',
      'POST',
      '/api/v1/tokens/revoke',
      '/api/v1/tokens/revoke',
      { token },
      'soak-admin',
    );
    if (status !== 200 && status !== 201) return;
    this.changed(requestId, 'token.revoke');
    const after = await this.call(
      'revoked-use',
      'POST',
      '/api/v1/encrypt',
      '/api/v1/encrypt',
      { userId: person.id, data: ['x'] },
      sub,
      token,
    );
    if (after.status === 200) this.ledger.revokedAccepted.push(sub);
  }
}
