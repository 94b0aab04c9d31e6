// What the tests share: the real relay binary started on loopback, a native member that speaks
// the JSON control channel over TCP and the data channel over UDP (as a game built with the
// Swift client would), and bounded waits.

import { spawn, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { decodeDatagram, encodeDatagram, PacketType, BROADCAST, LATEST } from '../gamerelay.js';

/** Resolves when `predicate()` holds, polling; rejects after `timeoutMs` naming `what`. */
export async function waitFor(what, predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves with the next value `emitter.on(type)` delivers that matches, within `timeoutMs`. */
export function next(relay, type, timeoutMs = 5000, matches = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${type}'`));
    }, timeoutMs);
    const stop = relay.on(type, (value) => {
      if (!matches(value)) return;
      clearTimeout(timer);
      stop();
      resolve(value);
    });
  });
}

/** The relay binary: GAMERELAY_BIN, which test.sh always sets. */
export function relayBinary() {
  const binary = process.env.GAMERELAY_BIN;
  if (!binary) throw new Error('GAMERELAY_BIN is not set: run the tests through Clients/js/test.sh');
  return binary;
}

/**
 * Starts `gamerelay serve` on 127.0.0.1 with a free port and waits for its readiness line.
 * @returns {Promise<{port: number, udpPort: number, wsURL: string, process: import('node:child_process').ChildProcess, stop: () => Promise<void>}>}
 */
export async function startRelay(args = []) {
  const child = spawn(relayBinary(), ['serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const lines = readline.createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the relay printed no readiness line within 10 s: ${stderr}`)), 10_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the relay exited with ${code}: ${stderr}`));
    });
  });
  const port = Number(ready.control.split(':').pop());
  const udpPort = Number(ready.udp.split(':').pop());
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    port,
    udpPort,
    wsURL: `ws://127.0.0.1:${port}/v1/ws`,
    process: child,
    exited,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A throwaway CA-less self-signed certificate for 127.0.0.1, made with the openssl command. */
export function selfSignedCertificate() {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'gamerelay-js-tls-'));
  const cert = path.join(directory, 'cert.pem');
  const key = path.join(directory, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key, pem: fs.readFileSync(cert), remove: () => fs.rmSync(directory, { recursive: true, force: true }) };
}

/**
 * A native member: JSON requests on TCP (newline-terminated), datagrams on UDP, with the BIND of
 * PROTOCOL.md §2.2 (cookie and retries). Received datagrams collect in `datagrams`.
 */
export class NativeMember {
  static async connect(relay) {
    const member = new NativeMember(relay);
    await new Promise((resolve, reject) => {
      member.tcp.once('connect', resolve);
      member.tcp.once('error', reject);
    });
    await new Promise((resolve) => member.udp.bind(0, '127.0.0.1', resolve));
    return member;
  }

  constructor(relay) {
    this.relay = relay;
    this.tcp = net.connect({ host: '127.0.0.1', port: relay.port });
    this.tcp.setNoDelay(true);
    this.udp = dgram.createSocket('udp4');
    this.events = [];
    this.datagrams = [];
    this.sequence = 0;
    this._replies = new Map();
    this._nextId = 1;
    this._buffer = '';
    this.tcp.setEncoding('utf8');
    this.tcp.on('data', (text) => {
      this._buffer += text;
      let end;
      while ((end = this._buffer.indexOf('\n')) >= 0) {
        const message = JSON.parse(this._buffer.slice(0, end));
        this._buffer = this._buffer.slice(end + 1);
        if (message.event) {
          this.events.push(message);
        } else {
          this._replies.get(message.id)?.(message);
        }
      }
    });
    this.udp.on('message', (bytes) => {
      const datagram = decodeDatagram(new Uint8Array(bytes));
      if (datagram) this.datagrams.push(datagram);
    });
  }

  /** One request; resolves with the reply (ok or not). */
  request(message) {
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${message.op}`)), 5000);
      this._replies.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.tcp.write(JSON.stringify({ ...message, id }) + '\n');
    });
  }

  async join(fields) {
    const reply = await this.request({ op: 'join', ...fields });
    if (!reply.ok) throw new Error(`join refused: ${JSON.stringify(reply.error)}`);
    this.member = reply.member;
    this.token = Buffer.from(reply.token, 'hex');
    this.sessionLow = Number.parseInt(reply.session.slice(-8), 16) >>> 0;
    return reply;
  }

  /** BIND with the cookie round trip, resending every 250 ms, until an empty BIND_ACK. */
  async bind() {
    let cookie = null;
    for (let attempt = 0; attempt < 20; attempt++) {
      const payload = cookie ? Buffer.concat([this.token, cookie]) : this.token;
      this._sendRaw(PacketType.BIND, 0, 0, payload);
      const deadline = Date.now() + 250;
      while (Date.now() < deadline) {
        const ack = this.datagrams.findIndex((datagram) => datagram.type === PacketType.BIND_ACK);
        if (ack >= 0) {
          const [datagram] = this.datagrams.splice(ack, 1);
          if (datagram.payload.length === 0) return;
          cookie = Buffer.from(datagram.payload);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    throw new Error('BIND: no empty BIND_ACK after 20 tries');
  }

  /** Sends DATA to everyone else (or `to`); returns its sequence. */
  send(payload, { to = BROADCAST, latest = false } = {}) {
    return this._sendRaw(PacketType.DATA, latest ? LATEST : 0, to, Buffer.from(payload));
  }

  _sendRaw(type, flags, target, payload) {
    const sequence = ++this.sequence;
    const bytes = encodeDatagram({ type, flags, session: this.sessionLow, member: this.member, target, sequence }, payload);
    this.udp.send(bytes, this.relay.udpPort, '127.0.0.1');
    return sequence;
  }

  /** Waits for a DATA datagram matching `matches`, removing it from `datagrams`. */
  async nextData(matches = () => true, timeoutMs = 5000) {
    return waitFor('a DATA datagram at the native member', () => {
      const index = this.datagrams.findIndex((datagram) => datagram.type === PacketType.DATA && matches(datagram));
      return index >= 0 ? this.datagrams.splice(index, 1)[0] : null;
    }, timeoutMs);
  }

  close() {
    this.tcp.destroy();
    this.udp.close();
  }
}
