import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../common/api-error';
import { createValidationPipe } from '../common/validation';
import { checkDecoyFields, DECOY_SHAPES, DecoyField, decoyValue, DecoyShape } from './decoy-fields';
import { CreateCanariesRequest } from './dto/canary.dto';

/** Written out here, independently of the generator: what a value of each shape must look like. */
const EXPECTED: Record<Exclude<DecoyShape, 'template'>, RegExp> = {
  name: /^[A-Z][A-Za-z']+ [A-Z][A-Za-z' ]+$/,
  'given-name': /^[A-Z][a-z]+$/,
  'family-name': /^[A-Z][A-Za-z' ]+$/,
  sin: /^[1-79][0-9]{2} [0-9]{3} [0-9]{3}$/,
  date: /^(19[4-9][0-9]|200[0-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/,
  email: /^[a-z]+\.[a-z]+([1-9][0-9]?)?@[a-z]+\.(com|ca|net)$/,
  phone: /^\([2-9][0-9]{2}\) [2-9][0-9]{2}-[0-9]{4}$/,
  'postal-code': /^[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z] [0-9][ABCEGHJ-NPRSTV-Z][0-9]$/,
  'account-number': /^[0-9]{12}$/,
  digits: /^[0-9]{9}$/,
  alphanumeric: /^[A-Za-z0-9]{8,32}$/,
  text: /^[A-Z][a-z ]{19,79}$/,
};

const draws = (field: DecoyField, times = 200) => Array.from({ length: times }, () => decoyValue(field));

/** The SIN check: digits weighted 1,2,1,2,… with the digits of each product summed, total a multiple of 10. */
function luhnValid(sin: string): boolean {
  const digits = sin.replace(/ /g, '').split('').map(Number);
  const sum = digits.reduce((total, digit, index) => {
    const product = index % 2 === 1 ? digit * 2 : digit;
    return total + (product > 9 ? product - 9 : product);
  }, 0);
  return sum % 10 === 0;
}

describe('decoy fields of canary rows', () => {
  for (const [shape, pattern] of Object.entries(EXPECTED)) {
    it(`draws ${shape} values that look like one, and not always the same value`, () => {
      const values = draws({ shape: shape as DecoyShape });
      for (const value of values) assert.match(value, pattern);
      assert.ok(new Set(values).size > 10, `${shape}: ${new Set(values).size} distinct values in 200`);
    });
  }

  it('covers every shape of the vocabulary (template below)', () => {
    assert.deepEqual([...Object.keys(EXPECTED), 'template'].sort(), [...DECOY_SHAPES].sort());
  });

  it('draws SINs that pass the check digit, as a real SIN does', () => {
    for (const sin of draws({ shape: 'sin' }, 500)) assert.ok(luhnValid(sin), sin);
    assert.equal(luhnValid('046 454 286'), true, 'the check itself accepts a known valid SIN');
    assert.equal(luhnValid('046 454 287'), false, 'and refuses a wrong check digit');
  });

  it('draws dates that exist on the calendar', () => {
    for (const date of draws({ shape: 'date' }, 500)) assert.equal(new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10), date);
  });

  it('gives exactly the asked length to text, digits, account numbers and alphanumerics', () => {
    for (const length of [1, 2, 7, 40, 1024]) {
      for (const value of draws({ shape: 'text', length }, 50)) {
        assert.equal(value.length, length);
        assert.equal(Buffer.byteLength(value), length, 'one byte per character: the ciphertext is as long as asked');
        assert.ok(!value.endsWith(' ') && !value.includes('  '), JSON.stringify(value));
      }
      assert.ok(draws({ shape: 'account-number', length }, 5).every((v) => new RegExp(`^[0-9]{${length}}$`).test(v)));
      assert.ok(draws({ shape: 'digits', length }, 5).every((v) => new RegExp(`^[0-9]{${length}}$`).test(v)));
      assert.ok(draws({ shape: 'alphanumeric', length }, 5).every((v) => new RegExp(`^[A-Za-z0-9]{${length}}$`).test(v)));
    }
  });

  it('varies the length of text and alphanumerics when none is asked, as real values vary', () => {
    assert.ok(new Set(draws({ shape: 'text' }).map((v) => v.length)).size > 10);
    assert.ok(new Set(draws({ shape: 'alphanumeric' }).map((v) => v.length)).size > 5);
  });

  it('fills a template: # a digit, A and a letters, * a letter or digit, \\ a literal, anything else itself', () => {
    const values = draws({ shape: 'template', template: 'C\\A-#### Aa* \\#\\a\\\\ é' });
    for (const value of values) assert.match(value, /^CA-[0-9]{4} [A-Z][a-z][A-Za-z0-9] #a\\ é$/);
    assert.ok(new Set(values).size > 100);
  });

  it('accepts valid field lists and names the first offending field of a bad one', () => {
    assert.equal(checkDecoyFields([{ shape: 'name' }, { shape: 'text', length: 40 }, { shape: 'template', template: '###' }]), undefined);
    const cases: Array<[unknown, string]> = [
      [[], 'fields must be an array of 1 to 32 field shapes'],
      [Array(33).fill({ shape: 'sin' }), 'fields must be an array of 1 to 32 field shapes'],
      ['sin', 'fields must be an array of 1 to 32 field shapes'],
      [[{ shape: 'sin' }, 'sin'], 'fields[1] must be an object with a shape'],
      [[{ shape: 'ssn' }], `fields[0].shape must be one of ${DECOY_SHAPES.join(', ')}`],
      [[{ shape: 'sin', colour: 'red' }], 'fields[0].colour should not exist'],
      [[{ shape: 'sin', length: 9 }], 'fields[0].length is taken only by the shapes account-number, digits, alphanumeric, text'],
      [[{ shape: 'text', length: 0 }], 'fields[0].length must be an integer from 1 to 1024'],
      [[{ shape: 'text', length: 1025 }], 'fields[0].length must be an integer from 1 to 1024'],
      [[{ shape: 'text', length: 2.5 }], 'fields[0].length must be an integer from 1 to 1024'],
      [[{ shape: 'text', length: '40' }], 'fields[0].length must be an integer from 1 to 1024'],
      [
        [{ shape: 'template' }],
        'fields[0].template must be 1 to 200 characters without control characters, a \\ only before another character',
      ],
      [
        [{ shape: 'template', template: '' }],
        'fields[0].template must be 1 to 200 characters without control characters, a \\ only before another character',
      ],
      [
        [{ shape: 'template', template: '##\\' }],
        'fields[0].template must be 1 to 200 characters without control characters, a \\ only before another character',
      ],
      [
        [{ shape: 'template', template: '#\n#' }],
        'fields[0].template must be 1 to 200 characters without control characters, a \\ only before another character',
      ],
      [
        [{ shape: 'template', template: '#'.repeat(201) }],
        'fields[0].template must be 1 to 200 characters without control characters, a \\ only before another character',
      ],
      [[{ shape: 'sin', template: '###' }], 'fields[0].template is taken only by the shape template'],
    ];
    for (const [fields, message] of cases) assert.equal(checkDecoyFields(fields), message, JSON.stringify(fields));
  });

  it('refuses a bad POST /canaries body with ENC001 naming the field, and accepts a good one', async () => {
    const pipe = createValidationPipe();
    const validate = (body: unknown) => pipe.transform(body, { type: 'body', metatype: CreateCanariesRequest });
    const good = { userId: '42', count: 2, keyVersion: 3, fields: [{ shape: 'sin' }, { shape: 'template', template: 'A#' }] };
    assert.deepEqual(JSON.parse(JSON.stringify(await validate(good))), good);
    await assert.rejects(
      validate({ userId: '42', fields: [{ shape: 'sin' }, { shape: 'text', length: 5000 }] }),
      (error: unknown) =>
        error instanceof ApiError && error.code === 'ENC001' && error.message === 'fields[1].length must be an integer from 1 to 1024',
    );
    await assert.rejects(
      validate({ userId: '42', keyVersion: 0 }),
      (error: unknown) =>
        error instanceof ApiError && error.code === 'ENC001' && error.message.startsWith('keyVersion must be an integer from 1'),
    );
  });
});
