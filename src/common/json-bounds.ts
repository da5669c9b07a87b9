import { isUtf8 } from 'node:buffer';
import { ApiError, invalidInput } from './api-error';

/** The structural limits a JSON request body is held to before anything parses or walks it. */
export interface JsonBounds {
  /** Arrays and objects nested inside the top-level object (MAX_JSON_DEPTH). */
  maxDepth: number;
  /** Values and object keys in the whole body (MAX_JSON_NODES). */
  maxNodes: number;
  /** Bytes of one object key as sent, escapes included (MAX_JSON_KEY_BYTES). */
  maxKeyBytes: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
/** Integer literals this long or longer may lie beyond ±(2^53 − 1): those are parsed and checked. */
const SHORTEST_UNSAFE_INTEGER = 16;

/**
 * Checks a JSON request body against `bounds` in one pass over its bytes, without recursion and
 * without building anything: nesting depth, number of values and keys, key length. It also
 * refuses what JSON.parse would accept but silently alter — invalid UTF-8 (decoded as U+FFFD),
 * unpaired surrogate escapes (encoded as U+FFFD), repeated keys (the last one wins), integers
 * beyond ±(2^53 − 1) and numbers out of range (1e999 becomes null on the way back) — and a body
 * whose top-level value is not an object. Throws 400 ENC001 naming the limit or the problem,
 * with a byte offset but never the offending text. Syntax errors are left to JSON.parse, which
 * runs after this and only on bodies that passed.
 */
export function assertJsonWithinBounds(body: Buffer, bounds: JsonBounds): void {
  if (!isUtf8(body)) throw invalidInput('Request body is not valid UTF-8');
  const end = body.length;
  // The body parser drops a leading byte order mark before JSON.parse; so does this check.
  const start = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  let at = skipWhitespace(body, start);
  if (at === end) return; // an empty body is read as {} and validated as such
  if (body[at] !== OPEN_OBJECT) throw invalidInput('Request body must be a JSON object');

  // One entry per open container: whether it is an object, and the keys it has had so far.
  const isObject: boolean[] = [];
  const keysOf: (Set<string> | undefined)[] = [];
  let nodes = 0;
  let expectKey = false;
  const countNode = () => {
    if (++nodes > bounds.maxNodes) {
      throw invalidInput(`Request body holds more than MAX_JSON_NODES (${bounds.maxNodes}) values and keys`);
    }
  };

  while (at < end) {
    const byte = body[at];
    if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      countNode();
      // The top-level object is level 0: MAX_JSON_DEPTH counts the levels inside it.
      if (isObject.length > bounds.maxDepth) {
        throw invalidInput(`Request body nests arrays and objects more than MAX_JSON_DEPTH (${bounds.maxDepth}) levels deep`);
      }
      isObject.push(byte === OPEN_OBJECT);
      keysOf.push(undefined);
      expectKey = byte === OPEN_OBJECT;
      at++;
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      isObject.pop();
      keysOf.pop();
      expectKey = false;
      at++;
    } else if (byte === COMMA) {
      expectKey = isObject[isObject.length - 1] === true;
      at++;
    } else if (byte === COLON) {
      expectKey = false;
      at++;
    } else if (byte === QUOTE) {
      const { next, escaped } = skipString(body, at);
      if (expectKey) {
        checkKey(body, at, next, escaped);
        expectKey = false;
      } else {
        countNode();
      }
      at = next;
    } else if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) {
      countNode();
      at = checkNumber(body, at);
    } else if (byte >= 0x61 && byte <= 0x7a) {
      // true, false, null (or a typo JSON.parse will report)
      countNode();
      while (at < end && body[at] >= 0x61 && body[at] <= 0x7a) at++;
    } else {
      at++;
    }
  }

  function checkKey(bytes: Buffer, start: number, next: number, escaped: boolean): void {
    countNode();
    const length = next - start - 2;
    if (length > bounds.maxKeyBytes) {
      throw invalidInput(`Request body has an object key longer than MAX_JSON_KEY_BYTES (${bounds.maxKeyBytes} bytes), at byte ${start}`);
    }
    // Compare keys as JSON.parse will see them: "a" and "\u0061" are the same key.
    const key = escaped ? decodeEscapedKey(bytes, start, next) : bytes.toString('utf8', start + 1, next - 1);
    if (key === undefined) return; // a malformed string: JSON.parse reports it
    const level = keysOf.length - 1;
    if (level < 0) return;
    const seen = (keysOf[level] ??= new Set<string>());
    if (seen.has(key)) throw invalidInput(`Request body repeats a key within one object, at byte ${start}`);
    seen.add(key);
  }
}

function decodeEscapedKey(body: Buffer, start: number, next: number): string | undefined {
  try {
    return JSON.parse(body.toString('utf8', start, next)) as string;
  } catch {
    return undefined;
  }
}

/**
 * The index just past the string starting at `start` (its opening quote), and whether it holds
 * escapes. Refuses \uD800–\uDFFF escapes that do not form a high–low pair.
 */
function skipString(body: Buffer, start: number): { next: number; escaped: boolean } {
  const end = body.length;
  let at = start + 1;
  let escaped = false;
  // The common string has no escape: find the next quote natively (memchr), then look for a
  // backslash before it; only then step through the escapes. The quote found is kept until an
  // escape steps past it, so a string of many escapes is still read once (linear, not quadratic).
  let quote = -1;
  while (at < end) {
    if (quote < at) {
      quote = body.indexOf(QUOTE, at);
      if (quote < 0) return { next: end, escaped };
    }
    const backslash = body.subarray(at, quote).indexOf(BACKSLASH);
    if (backslash < 0) return { next: quote + 1, escaped };
    at += backslash;
    escaped = true;
    if (body[at + 1] !== 0x75 /* u */) {
      at += 2;
      continue;
    }
    const unit = hexUnit(body, at + 2);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = body[at + 6] === BACKSLASH && body[at + 7] === 0x75 ? hexUnit(body, at + 8) : -1;
      if (!(low >= 0xdc00 && low <= 0xdfff)) throw unpairedSurrogate(at);
      at += 12;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      throw unpairedSurrogate(at);
    } else {
      at += 6;
    }
  }
  return { next: end, escaped };
}

/** The four hex digits at `at` as a number, or -1 when they are not four hex digits. */
function hexUnit(body: Buffer, at: number): number {
  let unit = 0;
  for (let i = 0; i < 4; i++) {
    const byte = body[at + i];
    const digit =
      byte >= 0x30 && byte <= 0x39
        ? byte - 0x30
        : byte >= 0x61 && byte <= 0x66
          ? byte - 0x57
          : byte >= 0x41 && byte <= 0x46
            ? byte - 0x37
            : -1;
    if (digit < 0) return -1;
    unit = unit * 16 + digit;
  }
  return unit;
}

/**
 * The index just past the number starting at `start`. Refuses numbers JSON.parse would turn
 * into something else: integers beyond ±(2^53 − 1) (rounded) and numbers out of range (±Infinity,
 * which JSON.stringify writes as null).
 */
function checkNumber(body: Buffer, start: number): number {
  const end = body.length;
  let at = start;
  let integer = true;
  let exponent = false;
  for (; at < end; at++) {
    const byte = body[at];
    if (byte === 0x65 || byte === 0x45) exponent = true;
    else if (byte === 0x2e) integer = false;
    else if (!(byte === 0x2d || byte === 0x2b || (byte >= 0x30 && byte <= 0x39))) break;
  }
  if (exponent || at - start >= SHORTEST_UNSAFE_INTEGER) {
    const value = Number(body.toString('latin1', start, at));
    // NaN: not a JSON number at all; JSON.parse reports it.
    const altered = !Number.isNaN(value) && (!Number.isFinite(value) || (integer && !exponent && !Number.isSafeInteger(value)));
    if (altered) {
      throw invalidInput(
        `Request body holds a number that would not come back unchanged, at byte ${start}: integers must lie within ±(2^53 − 1) and numbers within ±1.7976931348623157e308; send such values as strings`,
      );
    }
  }
  return at;
}

function skipWhitespace(body: Buffer, start: number): number {
  let at = start;
  while (at < body.length && (body[at] === 0x20 || body[at] === 0x0a || body[at] === 0x0d || body[at] === 0x09)) at++;
  return at;
}

function unpairedSurrogate(at: number): ApiError {
  return invalidInput(`Request body holds an unpaired surrogate escape (\\uD800–\\uDFFF), at byte ${at}: strings must be valid Unicode`);
}

/**
 * The body parser's `verify` hook: refuses, before JSON.parse runs, a body that is not UTF-8 or
 * that exceeds `bounds`. JSON between systems is UTF-8 (RFC 8259 §8.1): other charsets get 415.
 */
export function jsonBodyVerifier(bounds: JsonBounds) {
  return (_request: unknown, _response: unknown, body: Buffer, encoding: string | null): void => {
    if (encoding !== null && !/^utf-?8$/i.test(encoding)) {
      throw new ApiError('ENC001', 'Request body must be JSON encoded as UTF-8', { status: 415 });
    }
    assertJsonWithinBounds(body, bounds);
  };
}
