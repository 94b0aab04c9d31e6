// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands
// in on fd 3, answers out on fd 4, each a JSON text ended by a zero byte), so a test can open
// pages, move the mouse and take screenshots without any package beyond Debian's chromium.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The Chromium command: CHROMIUM_BIN, else the first of Debian's and others' names on PATH. */
export function chromiumBinary() {
  if (process.env.CHROMIUM_BIN) return process.env.CHROMIUM_BIN;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    for (const directory of (process.env.PATH ?? '').split(':')) {
      const candidate = path.join(directory, name);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  return null;
}

/** One headless Chromium and its DevTools pipe. */
export class Chromium {
  /** Starts Chromium with an empty profile of its own. */
  static async launch({ width = 800, height = 600 } = {}) {
    const binary = chromiumBinary();
    if (!binary) throw new Error('no chromium on PATH (apt-get install chromium), or set CHROMIUM_BIN');
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gamerelay-chromium-'));
    const args = [
      '--headless', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
      '--disable-extensions', '--disable-background-networking', '--disable-component-update',
      `--user-data-dir=${profile}`, `--window-size=${width},${height}`, '--remote-debugging-pipe', 'about:blank',
    ];
    // Chromium's sandbox refuses to start as root; a user's own account keeps it.
    if (process.getuid?.() === 0) args.unshift('--no-sandbox');
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const browser = new Chromium(child, profile);
    await browser.send('Target.setDiscoverTargets', { discover: true });
    return browser;
  }

  constructor(child, profile) {
    this.child = child;
    this.profile = profile;
    this.stderr = '';
    this._nextId = 1;
    this._pending = new Map();
    this._listeners = new Set();
    this._buffer = Buffer.alloc(0);
    child.stderr.on('data', (chunk) => {
      this.stderr = (this.stderr + chunk).slice(-8000);
    });
    child.stdio[4].on('data', (chunk) => this._read(chunk));
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    this.exited.then(() => {
      for (const pending of this._pending.values()) pending.reject(new Error(`chromium exited: ${this.stderr.slice(-1000)}`));
      this._pending.clear();
    });
  }

  /** Sends one DevTools command (to a page when `sessionId` is given) and resolves with its result. */
  send(method, params = {}, sessionId = undefined, timeoutMs = 15_000) {
    const id = this._nextId++;
    const message = { id, method, params, ...(sessionId && { sessionId }) };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new Error(`chromium did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(id, {
        resolve: (value) => { clearTimeout(timer); resolve(value); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      });
      this.child.stdio[3].write(JSON.stringify(message) + '\0');
    });
  }

  /** Opens a page at `url` in a new tab; resolves with its DevTools session id once it loaded. */
  async open(url) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    await this.send('Page.enable', {}, sessionId);
    await this.send('Runtime.enable', {}, sessionId);
    const loaded = this.waitFor('Page.loadEventFired', sessionId);
    await this.send('Page.navigate', { url }, sessionId);
    await loaded;
    return sessionId;
  }

  /** Resolves with the params of the next event `method` (of the page `sessionId`). */
  waitFor(method, sessionId, timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      const listener = (message) => {
        if (message.method !== method || (sessionId && message.sessionId !== sessionId)) return;
        clearTimeout(timer);
        this._listeners.delete(listener);
        resolve(message.params);
      };
      const timer = setTimeout(() => {
        this._listeners.delete(listener);
        reject(new Error(`no ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._listeners.add(listener);
    });
  }

  /** Calls `listener` with every event (method, params, sessionId); returns its remover. */
  onEvent(listener) {
    this._listeners.add(listener);
    return () => this._listeners.delete(listener);
  }

  /** Moves the mouse to (x, y) in the page. */
  async moveMouse(sessionId, x, y) {
    await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y }, sessionId);
  }

  /** Evaluates `expression` in the page and resolves with its value. */
  async evaluate(sessionId, expression) {
    const { result, exceptionDetails } = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, sessionId);
    if (exceptionDetails) throw new Error(`page threw: ${exceptionDetails.text} ${exceptionDetails.exception?.description ?? ''}`);
    return result.value;
  }

  /** Writes a PNG of the page's viewport to `file`. */
  async screenshot(sessionId, file) {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png' }, sessionId);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
    return file;
  }

  /** Closes the browser (kills it if it doesn't go) and removes its profile. */
  async close() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.send('Browser.close', {}, undefined, 3000).catch(() => {});
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.profile, { recursive: true, force: true });
  }

  _read(chunk) {
    this._buffer = Buffer.concat([this._buffer, chunk]);
    let end;
    while ((end = this._buffer.indexOf(0)) >= 0) {
      const message = JSON.parse(this._buffer.subarray(0, end).toString('utf8'));
      this._buffer = this._buffer.subarray(end + 1);
      if (message.id !== undefined) {
        const pending = this._pending.get(message.id);
        this._pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`${message.error.message} (${message.error.code})`));
        else pending?.resolve(message.result);
      } else {
        for (const listener of [...this._listeners]) listener(message);
      }
    }
  }
}
