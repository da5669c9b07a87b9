import request from 'supertest';

/** The value of one Prometheus sample, 0 when absent (a counter not yet incremented). */
export async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { text } = await request(url).get('/metrics').expect(200);
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const line = text
    .split('\n')
    .find(
      (candidate) =>
        (candidate.startsWith(`${name}{`) || candidate.startsWith(`${name} `)) && wanted.every((pair) => candidate.includes(pair)),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}
