import type { AppProcess } from './app-process';

/**
 * The value of one Prometheus sample of `app`, 0 when absent (a counter not yet incremented); the
 * /metrics answer is checked against the OpenAPI document, as every answer of app.http() is.
 */
export async function metric(app: AppProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { text } = await app.http().get('/metrics').expect(200);
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const line = text
    .split('\n')
    .find(
      (candidate) =>
        (candidate.startsWith(`${name}{`) || candidate.startsWith(`${name} `)) && wanted.every((pair) => candidate.includes(pair)),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
