import { randomInt } from 'node:crypto';
import { CANARY_FIELD_LENGTH, MAX_CANARY_FIELDS, MAX_CANARY_TEMPLATE_LENGTH } from '../common/limits';

/**
 * The plaintexts of a canary row's fields: random values of the shape the caller names, so that
 * each field's ciphertext is as long as a real value of that column (AES-GCM keeps the plaintext's
 * length: the one thing a ciphertext tells about it), and so that the row reads like a real one if
 * it is ever decrypted after being retired. Pure functions, node:crypto's randomInt only.
 * The vocabulary is documented in docs/compliance.md (canary rows) and the OpenAPI document.
 */

export const DECOY_SHAPES = [
  'name',
  'given-name',
  'family-name',
  'sin',
  'date',
  'email',
  'phone',
  'postal-code',
  'account-number',
  'digits',
  'alphanumeric',
  'text',
  'template',
] as const;
export type DecoyShape = (typeof DECOY_SHAPES)[number];

/** One field of a canary row: a shape, with a length for the shapes that take one, or a template. */
export interface DecoyField {
  shape: DecoyShape;
  length?: number;
  template?: string;
}

/** The shapes that take `length` (characters), and the length drawn for each field when none is given. */
export const LENGTH_SHAPES: Readonly<Partial<Record<DecoyShape, { min: number; max: number }>>> = {
  'account-number': { min: 12, max: 12 },
  digits: { min: 9, max: 9 },
  alphanumeric: { min: 8, max: 32 },
  text: { min: 20, max: 80 },
};

/** What a row has when the request names no fields: one field, as every canary was before canary rows. */
export const DEFAULT_DECOY_FIELDS: readonly DecoyField[] = [{ shape: 'alphanumeric' }];

/** One template character: `\` makes the next character literal; no control characters. */
export const TEMPLATE_PATTERN = /^(?:[^\\\u0000-\u001f\u007f]|\\[^\u0000-\u001f\u007f])+$/u;

/** One sentence per shape, for the OpenAPI document and the docs. */
export const DECOY_SHAPE_DESCRIPTION =
  '`name` (given and family name), `given-name`, `family-name`, `sin` (a Canadian SIN `### ### ###` with a valid check digit), ' +
  '`date` (`YYYY-MM-DD`, 1940–2009), `email`, `phone` (`(###) ###-####`), `postal-code` (Canadian, `A1A 1A1`), ' +
  '`account-number` (digits, `length` default 12), `digits` (`length` default 9), `alphanumeric` (A–Z a–z 0–9, `length` default 8 to 32 at random), ' +
  '`text` (words and spaces, exactly `length` characters, default 20 to 80 at random), ' +
  '`template` (`template` given: `#` a digit, `A` an upper-case letter, `a` a lower-case letter, `*` a letter or digit, `\\` makes the next character literal, so a literal A is `\\A`; any other character is itself)';

// prettier-ignore
const GIVEN = [
  'James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth', 'William', 'Barbara',
  'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Daniel', 'Karen', 'Matthew', 'Nancy', 'Mark', 'Lisa', 'Paul',
  'Sandra', 'Steven', 'Michelle', 'Andrew', 'Emily', 'Kevin', 'Amanda', 'Brian', 'Melissa', 'Jean', 'Marie', 'Louis',
  'Sophie', 'Pierre', 'Nathalie', 'Mohammed', 'Fatima', 'Wei', 'Mei', 'Raj', 'Priya', 'Liam', 'Olivia', 'Noah', 'Emma',
  'Ethan', 'Chloe', 'Lucas', 'Charlotte', 'Benjamin', 'Ava', 'Alexander', 'Isabelle', 'Gabriel', 'Zoe',
];
// prettier-ignore
const FAMILY = [
  'Smith', 'Brown', 'Tremblay', 'Martin', 'Roy', 'Wilson', 'MacDonald', 'Gagnon', 'Johnson', 'Taylor', 'Cote', 'Campbell',
  'Anderson', 'Leblanc', 'Lee', 'Jones', 'White', 'Williams', 'Miller', 'Thompson', 'Gauthier', 'Young', 'Van Dyk', 'Morin',
  'Bouchard', 'Scott', 'Stewart', 'Belanger', 'Reid', 'Pelletier', 'Moore', 'Lavoie', 'King', 'Robinson', 'Levesque', 'Murphy',
  'Fortin', 'Gagne', 'Wong', 'Clark', 'Singh', 'Nguyen', 'Chen', 'Patel', 'Kim', "O'Brien", 'Fraser', 'Boucher', 'Walker',
  'Cheng', 'Kaur', 'Ouellet', 'Hall', 'Girard', 'Wright', 'Hughes', 'Poirier', 'Lapointe', 'Grant', 'Sutherland',
];
// prettier-ignore
const WORDS = [
  'the', 'client', 'called', 'about', 'renewal', 'of', 'policy', 'and', 'asked', 'to', 'update', 'address', 'payment', 'was',
  'received', 'on', 'time', 'account', 'review', 'pending', 'left', 'message', 'will', 'follow', 'up', 'next', 'week', 'with',
  'new', 'documents', 'requested', 'by', 'branch', 'manager', 'confirmed', 'identity', 'over', 'phone', 'notes', 'from',
  'meeting', 'spouse', 'joint', 'claim', 'closed', 'after', 'call', 'prefers', 'email', 'contact', 'in', 'morning', 'moved',
  'province', 'last', 'year', 'card', 'replaced', 'fee', 'waived', 'once', 'as', 'courtesy', 'see', 'file', 'for', 'details',
];
const EMAIL_DOMAINS = [
  'gmail.com',
  'outlook.com',
  'hotmail.com',
  'yahoo.ca',
  'icloud.com',
  'videotron.ca',
  'shaw.ca',
  'rogers.com',
  'bell.net',
];
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALPHANUMERIC = UPPER + LOWER + DIGITS;
/** Canada Post: no D, F, I, O, Q, U anywhere; no W, Z first. */
const POSTAL_FIRST = 'ABCEGHJKLMNPRSTVXY';
const POSTAL_OTHER = 'ABCEGHJKLMNPRSTVWXYZ';
/** Birth dates: 1940-01-01 to 2009-12-31, as days since 1970-01-01. */
const DATE_RANGE_DAYS = { from: Date.UTC(1940, 0, 1) / 86_400_000, to: Date.UTC(2009, 11, 31) / 86_400_000 };

const pick = <T>(values: readonly T[] | string): T => values[randomInt(values.length)] as T;
const draw = (alphabet: string, length: number) => Array.from({ length }, () => pick<string>(alphabet)).join('');

/** A random value of the field's shape. The field must be valid (checkDecoyFields). */
export function decoyValue(field: DecoyField): string {
  const range = LENGTH_SHAPES[field.shape];
  const length = range && (field.length ?? randomInt(range.min, range.max + 1));
  switch (field.shape) {
    case 'name':
      return `${pick(GIVEN)} ${pick(FAMILY)}`;
    case 'given-name':
      return pick(GIVEN);
    case 'family-name':
      return pick(FAMILY);
    case 'sin':
      return sin();
    case 'date':
      return new Date(randomInt(DATE_RANGE_DAYS.from, DATE_RANGE_DAYS.to + 1) * 86_400_000).toISOString().slice(0, 10);
    case 'email': {
      const suffix = randomInt(2) === 0 ? '' : String(randomInt(1, 100));
      const local = `${pick<string>(GIVEN)}.${pick<string>(FAMILY)}`.toLowerCase().replace(/[^a-z.]/g, '');
      return `${local}${suffix}@${pick(EMAIL_DOMAINS)}`;
    }
    case 'phone':
      return `(${draw('23456789', 1)}${draw(DIGITS, 2)}) ${draw('23456789', 1)}${draw(DIGITS, 2)}-${draw(DIGITS, 4)}`;
    case 'postal-code':
      return `${pick(POSTAL_FIRST)}${draw(DIGITS, 1)}${pick(POSTAL_OTHER)} ${draw(DIGITS, 1)}${pick(POSTAL_OTHER)}${draw(DIGITS, 1)}`;
    case 'account-number':
    case 'digits':
      return draw(DIGITS, length!);
    case 'alphanumeric':
      return draw(ALPHANUMERIC, length!);
    case 'text':
      return text(length!);
    case 'template':
      return fromTemplate(field.template!);
  }
}

/** Nine digits `### ### ###` that pass the SIN's Luhn check; the first is 1–7 or 9 (0 and 8 are not issued). */
function sin(): string {
  const digits = [pick([1, 2, 3, 4, 5, 6, 7, 9])];
  for (let i = 1; i < 8; i++) digits.push(randomInt(10));
  const sum = digits.reduce((total, digit, index) => {
    if (index % 2 === 0) return total + digit;
    const doubled = digit * 2;
    return total + (doubled > 9 ? doubled - 9 : doubled);
  }, 0);
  digits.push((10 - (sum % 10)) % 10);
  const text = digits.join('');
  return `${text.slice(0, 3)} ${text.slice(3, 6)} ${text.slice(6)}`;
}

/** Words and single spaces, exactly `length` characters, starting with a capital and never ending with a space. */
function text(length: number): string {
  let value = '';
  while (value.length < length) value += (value ? ' ' : '') + pick<string>(WORDS);
  value = value.slice(0, length);
  if (value.endsWith(' ')) value = `${value.slice(0, -1)}${pick<string>(LOWER)}`;
  return value[0].toUpperCase() + value.slice(1);
}

function fromTemplate(template: string): string {
  let value = '';
  for (let i = 0; i < template.length; i++) {
    const char = template[i];
    if (char === '\\') value += template[++i];
    else if (char === '#') value += pick<string>(DIGITS);
    else if (char === 'A') value += pick<string>(UPPER);
    else if (char === 'a') value += pick<string>(LOWER);
    else if (char === '*') value += pick<string>(ALPHANUMERIC);
    else value += char;
  }
  return value;
}

const FIELD_KEYS = new Set(['shape', 'length', 'template']);

/**
 * What is wrong with `fields` of POST /canaries, naming the first offending field
 * (`fields[2].length must …`); undefined when it is a valid list of field shapes.
 */
export function checkDecoyFields(value: unknown, name = 'fields'): string | undefined {
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_CANARY_FIELDS) {
    return `${name} must be an array of 1 to ${MAX_CANARY_FIELDS} field shapes`;
  }
  for (let index = 0; index < value.length; index++) {
    const problem = checkField(value[index], `${name}[${index}]`);
    if (problem) return problem;
  }
  return undefined;
}

function checkField(field: unknown, name: string): string | undefined {
  if (typeof field !== 'object' || field === null || Array.isArray(field)) return `${name} must be an object with a shape`;
  const unknown = Object.keys(field).find((key) => !FIELD_KEYS.has(key));
  if (unknown !== undefined) return `${name}.${unknown} should not exist`;
  const { shape, length, template } = field as Record<string, unknown>;
  if (typeof shape !== 'string' || !(DECOY_SHAPES as readonly string[]).includes(shape)) {
    return `${name}.shape must be one of ${DECOY_SHAPES.join(', ')}`;
  }
  if (length !== undefined) {
    if (!LENGTH_SHAPES[shape as DecoyShape]) return `${name}.length is taken only by the shapes ${Object.keys(LENGTH_SHAPES).join(', ')}`;
    if (!Number.isInteger(length) || (length as number) < CANARY_FIELD_LENGTH.min || (length as number) > CANARY_FIELD_LENGTH.max) {
      return `${name}.length must be an integer from ${CANARY_FIELD_LENGTH.min} to ${CANARY_FIELD_LENGTH.max}`;
    }
  }
  if (shape === 'template') {
    if (typeof template !== 'string' || [...template].length > MAX_CANARY_TEMPLATE_LENGTH || !TEMPLATE_PATTERN.test(template)) {
      return `${name}.template must be 1 to ${MAX_CANARY_TEMPLATE_LENGTH} characters without control characters, a \\ only before another character`;
    }
  } else if (template !== undefined) return `${name}.template is taken only by the shape template`;
  return undefined;
}
