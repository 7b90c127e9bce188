import { existsSync, watch } from 'node:fs';
import path from 'node:path';

/** Resolves when `file` exists (fs.watch on its folder, no polling), or rejects after `ms`. */
export function appears(file: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(path.dirname(file));
    const done = (error?: Error): void => (clearTimeout(timer), watcher.close(), error ? reject(error) : resolve());
    const timer = setTimeout(() => done(new Error(`${file} did not appear within ${ms} ms`)), ms);
    watcher.on('change', () => existsSync(file) && done());
    if (existsSync(file)) done();
  });
}

/** Resolves when `file` is gone (fs.watch on its folder, no polling), or rejects after `ms`. */
export function vanishes(file: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(path.dirname(file));
    const done = (error?: Error): void => (clearTimeout(timer), watcher.close(), error ? reject(error) : resolve());
    const timer = setTimeout(() => done(new Error(`${file} still there after ${ms} ms`)), ms);
    watcher.on('change', () => !existsSync(file) && done());
    watcher.on('rename', () => !existsSync(file) && done());
    if (!existsSync(file)) done();
  });
}
