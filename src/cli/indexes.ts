import { parseArgs } from 'node:util';

/**
 * `npm run indexes -- <command>`: the operator's blind-index commands (docs/blind-indexes.md),
 * sent to the running service so that each is authorized and audited like any other request.
 * PII_API_URL (default http://localhost:3000) and PII_API_TOKEN (a token holding `indexes:admin`;
 * `npm run token` prints one in development). Prints the service's JSON answer.
 *
 *   define <name> --normalisation digits|email|text --bits <n> --cardinality <n> [--exact-match] [--email-local-part exact|lowercase]
 *   list | describe <name> | rotate <name> | finish-rotation <name>
 */
const USAGE = `usage: npm run indexes -- define <name> --normalisation digits|email|text --bits <n> --cardinality <n> [--exact-match] [--email-local-part exact|lowercase]
       npm run indexes -- list | describe <name> | rotate <name> | finish-rotation <name>`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      normalisation: { type: 'string' },
      bits: { type: 'string' },
      cardinality: { type: 'string' },
      'exact-match': { type: 'boolean', default: false },
      'email-local-part': { type: 'string' },
    },
  });
  const [command, name] = positionals;
  const base = `${(process.env.PII_API_URL ?? 'http://localhost:3000').replace(/\/$/, '')}/api/v1/indexes`;
  const token = process.env.PII_API_TOKEN;
  if (!token) throw new Error('PII_API_TOKEN is required: a token holding indexes:admin');
  const needName = () => name ?? fail(`${command} needs an index name\n${USAGE}`);

  let response: Response;
  const send = (path: string, method: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  switch (command) {
    case 'define':
      response = await send('', 'POST', {
        name: needName(),
        normalisation: values.normalisation ?? fail(`--normalisation is required\n${USAGE}`),
        outputBits: integer('--bits', values.bits),
        expectedCardinality: integer('--cardinality', values.cardinality),
        ...(values['exact-match'] && { exactMatch: true }),
        ...(values['email-local-part'] && { emailLocalPart: values['email-local-part'] }),
      });
      break;
    case 'list':
      response = await send('', 'GET');
      break;
    case 'describe':
      response = await send(`/${encodeURIComponent(needName())}`, 'GET');
      break;
    case 'rotate':
    case 'finish-rotation':
      response = await send(`/${encodeURIComponent(needName())}/${command}`, 'POST');
      break;
    default:
      fail(USAGE);
  }
  const text = await response.text();
  process.stdout.write(`${text}\n`);
  if (!response.ok) process.exitCode = 1;
}

function integer(flag: string, value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) fail(`${flag} must be a whole number\n${USAGE}`);
  return Number(value);
}

function fail(message: string): never {
  throw new Error(message);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
