import type { JSONWebKeySet } from 'jose';
import { readFile } from 'node:fs/promises';

/** The receipt-signing keys, from a URL (the service's /.well-known/receipt-keys.json) or a saved copy. */
export async function loadKeySet(source: string): Promise<JSONWebKeySet> {
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${source} answered ${response.status}`);
    return (await response.json()) as JSONWebKeySet;
  }
  return JSON.parse(await readFile(source, 'utf8')) as JSONWebKeySet;
}
