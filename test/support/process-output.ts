import fs from 'node:fs';

/**
 * Records the log lines and console output of this process, passing every write on unchanged,
 * until `restore`: text written with fs.write or fs.writeSync to any file (pino's sonic-boom
 * streams write strings, to stdout or to a LOG_FILE), anything written to stdout or stderr.
 * Binary writes to other files (the embedded database's pages) are not recorded.
 */
export function captureProcessOutput() {
  const chunks: string[] = [];
  const record = (fd: unknown, data: unknown) => {
    if (typeof data === 'string') chunks.push(data);
    else if ((fd === 1 || fd === 2) && ArrayBuffer.isView(data)) {
      chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
    }
  };
  const { write, writeSync } = fs;
  const stdoutWrite = process.stdout.write;
  const stderrWrite = process.stderr.write;
  const mutableFs = fs as unknown as Record<'write' | 'writeSync', (...args: unknown[]) => unknown>;
  mutableFs.write = (...args: unknown[]) => {
    record(args[0], args[1]);
    return (write as (...a: unknown[]) => unknown)(...args);
  };
  mutableFs.writeSync = (...args: unknown[]) => {
    record(args[0], args[1]);
    return (writeSync as (...a: unknown[]) => unknown)(...args);
  };
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    record(1, chunk);
    return (stdoutWrite as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    record(2, chunk);
    return (stderrWrite as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  return {
    text: () => chunks.join(''),
    restore: () => {
      mutableFs.write = write as unknown as (...args: unknown[]) => unknown;
      mutableFs.writeSync = writeSync as unknown as (...args: unknown[]) => unknown;
      process.stdout.write = stdoutWrite;
      process.stderr.write = stderrWrite;
    },
  };
}
