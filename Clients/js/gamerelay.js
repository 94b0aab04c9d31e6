// GameRelay's client for browsers and JavaScript runtimes: one WebSocket (PROTOCOL.md §7) carries
// both the control channel (JSON text messages) and the data channel (binary datagrams), so a
// web build joins the same sessions as native UDP members. An ES module with no dependencies and
// no build step.

/** The protocol version this client speaks (PROTOCOL.md §1.3 `hello`). */
export const PROTOCOL_VERSION = 1;
/** The WebSocket subprotocol the relay requires (PROTOCOL.md §7). */
export const SUBPROTOCOL = 'gamerelay.v1';
/** The size of every datagram's header (PROTOCOL.md §2.1). */
export const HEADER_SIZE = 16;
/** The `target` that sends a DATA datagram to every other member. */
export const BROADCAST = 0xffff;
/** The datagram types of PROTOCOL.md §2.1. */
export const PacketType = Object.freeze({ BIND: 1, BIND_ACK: 2, DATA: 3, PING: 4, PONG: 5, AGGREGATE: 6 });
/** The LATEST flag: the relay drops this DATA if a newer LATEST from the sender went first. */
export const LATEST = 0x01;

const MAGIC = 0x47;
const VERSION = 1;
const AGGREGATE_ENTRY_HEADER = 8;
// The relay's default until `hello` says otherwise (PROTOCOL.md §4).
const DEFAULT_MAX_DATAGRAM = 1200;
const textEncoder = new TextEncoder();

/** A request the relay refused: `code` is the protocol's error code, `message` the relay's text. */
export class RelayError extends Error {
  /**
   * @param {string} code the error code, such as `not_found` or `full` (PROTOCOL.md §1.2)
   * @param {string} message the relay's human-readable text
   */
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = 'RelayError';
    this.code = code;
    this.relayMessage = message;
  }
}

/**
 * The connection failed or ended, or the relay did not answer in time: `code` is `connect_failed`,
 * `closed` or `timeout`.
 */
export class ConnectionError extends Error {
  /**
   * @param {'connect_failed'|'closed'|'timeout'} code what went wrong
   * @param {string} message the details
   */
  constructor(code, message) {
    super(message);
    this.name = 'ConnectionError';
    this.code = code;
  }
}

/**
 * Writes a datagram: the 16-byte header of PROTOCOL.md §2.1 and the payload.
 * @returns {Uint8Array}
 */
export function encodeDatagram({ type, flags = 0, session, member, target = 0, sequence }, payload = new Uint8Array(0)) {
  const bytes = new Uint8Array(HEADER_SIZE + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, MAGIC);
  view.setUint8(1, VERSION);
  view.setUint8(2, type);
  view.setUint8(3, flags);
  view.setUint32(4, session >>> 0);
  view.setUint16(8, member);
  view.setUint16(10, target);
  view.setUint32(12, sequence >>> 0);
  bytes.set(payload, HEADER_SIZE);
  return bytes;
}

/**
 * Reads a datagram's header, or returns null when it is shorter than a header or has the wrong
 * magic or version. The payload is a view into `bytes`, not a copy.
 * @param {Uint8Array} bytes
 */
export function decodeDatagram(bytes) {
  if (bytes.length < HEADER_SIZE || bytes[0] !== MAGIC || bytes[1] !== VERSION) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    type: bytes[2],
    flags: bytes[3],
    session: view.getUint32(4),
    member: view.getUint16(8),
    target: view.getUint16(10),
    sequence: view.getUint32(12),
    payload: bytes.subarray(HEADER_SIZE),
  };
}

/**
 * Reads the entries of an AGGREGATE's payload (PROTOCOL.md §8), or returns null when they don't
 * end exactly at its end: a malformed AGGREGATE is refused whole rather than half-read.
 * @param {Uint8Array} payload the bytes after the header
 * @returns {{member: number, sequence: number, payload: Uint8Array}[] | null}
 */
export function decodeAggregateEntries(payload) {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const entries = [];
  let offset = 0;
  while (offset < payload.length) {
    if (payload.length - offset < AGGREGATE_ENTRY_HEADER) return null;
    const length = view.getUint16(offset + 6);
    const start = offset + AGGREGATE_ENTRY_HEADER;
    if (payload.length - start < length) return null;
    entries.push({
      member: view.getUint16(offset),
      sequence: view.getUint32(offset + 2),
      payload: payload.subarray(start, start + length),
    });
    offset = start + length;
  }
  return entries;
}

function toBytes(payload) {
  if (typeof payload === 'string') return textEncoder.encode(payload);
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  throw new TypeError('payload must be a string, an ArrayBuffer or a typed array');
}

function now() {
  return globalThis.performance?.now() ?? Date.now();
}

/**
 * A member's connection to a GameRelay over one WebSocket: hello, create, join, DATA both ways
 * (AGGREGATE entries arrive as DATA of their own), events, and PING round trips.
 *
 * ```js
 * import { GameRelay } from './gamerelay.js';
 * const relay = await GameRelay.connect('wss://relay.example.net:7400/v1/ws');
 * const { code } = await relay.create({ capacity: 8, tick: 30 });
 * await relay.join({ code, name: 'alice' });
 * relay.on('data', ({ from, sequence, payload }) => draw(from, payload));
 * setInterval(() => relay.send(position(), { latest: true }), 33);
 * ```
 */
export class GameRelay {
  /**
   * Opens the WebSocket and says hello; resolves once the relay has answered.
   * @param {string} url `ws://host:port/v1/ws` or `wss://…`
   * @param {object} [options] see the constructor
   * @returns {Promise<GameRelay>}
   */
  static async connect(url, options = {}) {
    const relay = new GameRelay(url, options);
    try {
      await relay.opened;
      await relay.hello();
    } catch (error) {
      relay.close();
      throw error;
    }
    return relay;
  }

  /**
   * Starts connecting; {@link GameRelay.connect} also waits for the socket and says hello.
   * @param {string} url the relay's WebSocket URL
   * @param {object} [options]
   * @param {Function} [options.WebSocket] a WebSocket class, for runtimes without a global one
   * @param {string} [options.client] the `client` text sent in `hello`
   * @param {number} [options.requestTimeoutMs] how long a request waits for its reply (10 s)
   * @param {number} [options.keepAliveMs] the control `ping` interval when nothing else is sent (10 s; 0: none)
   * @param {number} [options.maxBufferedBytes] unsent bytes beyond which `send` drops data (256 KiB)
   */
  constructor(url, options = {}) {
    const WebSocketClass = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketClass !== 'function') {
      throw new TypeError('no WebSocket class: pass options.WebSocket in runtimes without a global WebSocket');
    }
    this.url = url;
    this.clientName = options.client ?? 'gamerelay.js/1';
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.keepAliveMs = options.keepAliveMs ?? 10_000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 256 * 1024;
    /** The relay's `hello` answer: `server`, `features`, `maxDatagram`, `tls`, …; null before it. */
    this.info = null;
    /** This member's membership: `session`, `member`, `owner`, `members` (a Map of id to name); null outside a session. */
    this.membership = null;
    /** Counters: datagrams sent and received, and those dropped (backlog, malformed). */
    this.stats = { sent: 0, received: 0, droppedBacklog: 0, droppedMalformed: 0 };
    this.maxDatagram = DEFAULT_MAX_DATAGRAM;

    this._listeners = new Map();
    this._pending = new Map();
    this._pings = new Map();
    this._nextId = 1;
    this._sequence = 0;
    this._sessionLow = 0;
    this._lastSent = now();
    this._closed = false;

    const socket = new WebSocketClass(url, [SUBPROTOCOL]);
    socket.binaryType = 'arraybuffer';
    this._socket = socket;
    this.opened = new Promise((resolve, reject) => {
      socket.onopen = () => {
        if (socket.protocol !== SUBPROTOCOL) {
          reject(new ConnectionError('connect_failed', `the server did not accept the ${SUBPROTOCOL} subprotocol`));
          socket.close(1002);
          return;
        }
        this._startKeepAlive();
        resolve();
      };
      socket.onerror = () => {
        // Browsers give no details here; onclose follows with the code.
      };
      socket.onclose = (event) => {
        const code = event?.code ?? 1006;
        reject(new ConnectionError('connect_failed', `the WebSocket to ${url} closed before it opened (code ${code})`));
        this._closedBy(event);
      };
    });
    this.opened.catch(() => {});
    socket.onmessage = (event) => this._receive(event.data);
  }

  /**
   * Adds a listener; returns a function that removes it. Types: `data` ({from, sequence, payload,
   * target, latest, tick}), `event` (every relay event object), each event by its name (`joined`,
   * `left`, `owner`, `bound`, `unbound`, `kicked`, `shutdown`, `closing`), and `close` ({code, reason}).
   * @param {string} type
   * @param {Function} listener
   */
  on(type, listener) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(listener);
    return () => this.off(type, listener);
  }

  /** Removes a listener added with {@link GameRelay#on}. */
  off(type, listener) {
    this._listeners.get(type)?.delete(listener);
  }

  /**
   * Sends `hello` and keeps the answer in {@link GameRelay#info} (the features, the datagram limit).
   * @returns {Promise<object>}
   */
  async hello() {
    const reply = await this.request({ op: 'hello', protocol: PROTOCOL_VERSION, client: this.clientName });
    this.info = reply;
    if (Number.isInteger(reply.maxDatagram) && reply.maxDatagram >= HEADER_SIZE) this.maxDatagram = reply.maxDatagram;
    return reply;
  }

  /** Whether the relay offers an extension: `tls`, `websocket` or `tick`. */
  offers(feature) {
    return Array.isArray(this.info?.features) && this.info.features.includes(feature);
  }

  /**
   * Creates a session (without joining it): `tick` (1…120 Hz) makes it aggregate LATEST broadcasts.
   * @param {{capacity?: number, tick?: number}} [options]
   * @returns {Promise<{session: string, code: string, capacity: number, tick?: number}>}
   */
  async create({ capacity, tick } = {}) {
    const message = { op: 'create' };
    if (capacity !== undefined) message.capacity = capacity;
    if (tick !== undefined) message.tick = tick;
    const reply = await this.request(message);
    return { session: reply.session, code: reply.code, capacity: reply.capacity, ...(reply.tick !== undefined && { tick: reply.tick }) };
  }

  /**
   * Joins a session by its `code` or its `session` id. The member is bound to this WebSocket at
   * once: it can send and receive as soon as this resolves.
   * @param {{code?: string, session?: string, name?: string}} target
   * @returns {Promise<{session: string, member: number, owner: number, members: Map<number, string>}>}
   */
  async join({ code, session, name = '' }) {
    if ((code === undefined) === (session === undefined)) throw new TypeError('join takes exactly one of code and session');
    const message = code !== undefined ? { op: 'join', code, name } : { op: 'join', session, name };
    const reply = await this.request(message);
    const members = new Map();
    for (const other of reply.members ?? []) members.set(other.member, other.name);
    this.membership = { session: reply.session, member: reply.member, owner: reply.owner, members };
    this._sessionLow = Number.parseInt(reply.session.slice(-8), 16) >>> 0;
    return this.membership;
  }

  /** Leaves the session; the connection stays open for another join. */
  async leave() {
    await this.request({ op: 'leave' });
    this._endMembership();
  }

  /** Removes a member from the session; only the owner may. */
  async kick(member) {
    await this.request({ op: 'kick', member });
  }

  /** A control-channel round trip (`ping`): the keep-alive, also a liveness check. */
  async controlPing() {
    await this.request({ op: 'ping' });
  }

  /**
   * Sends DATA to every other member, or to one (`to`). Returns the datagram's sequence, or null
   * when it was dropped because the socket's unsent output is over `maxBufferedBytes`: like the
   * relay, the client never queues game state behind a slow link.
   * @param {string|ArrayBuffer|ArrayBufferView} payload the application bytes (a string is sent as UTF-8)
   * @param {{to?: number, latest?: boolean}} [options]
   * @returns {number|null}
   */
  send(payload, { to, latest = false } = {}) {
    const membership = this._requireMembership();
    const bytes = toBytes(payload);
    if (HEADER_SIZE + bytes.length > this.maxDatagram) {
      throw new RangeError(`a ${bytes.length}-byte payload is over the relay's limit of ${this.maxDatagram - HEADER_SIZE} bytes`);
    }
    if (to !== undefined && (!Number.isInteger(to) || to < 1 || to >= BROADCAST)) {
      throw new RangeError('to must be a member id (1…65534)');
    }
    return this._sendDatagram({
      type: PacketType.DATA,
      flags: latest ? LATEST : 0,
      member: membership.member,
      target: to ?? BROADCAST,
    }, bytes);
  }

  /**
   * Measures the round trip to the relay with a data-channel PING (PROTOCOL.md §2.4), in
   * milliseconds. Needs a membership: the relay answers only bound members.
   * @param {{timeoutMs?: number}} [options]
   * @returns {Promise<number>}
   */
  ping({ timeoutMs = 2000 } = {}) {
    const membership = this._requireMembership();
    const sentAt = now();
    // The PONG copies the PING's header: its sequence finds the ping again.
    const sequence = this._sendDatagram({ type: PacketType.PING, member: membership.member }, new Uint8Array(0), true);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pings.delete(sequence);
        reject(new ConnectionError('timeout', `no PONG within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pings.set(sequence, { sentAt, resolve, reject, timer });
    });
  }

  /**
   * Sends one control request and resolves with the relay's reply, or rejects with a
   * {@link RelayError} (refused) or a {@link ConnectionError} (timed out, closed).
   * @param {object} message the request without `id`
   */
  request(message) {
    if (this._closed) return Promise.reject(new ConnectionError('closed', 'the connection is closed'));
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new ConnectionError('timeout', `no reply to ${message.op} within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      this._sendText(JSON.stringify({ ...message, id }));
    });
  }

  /** Closes the WebSocket (a `disconnect` leave for the others); pending requests reject. */
  close() {
    if (this._socket.readyState === 0 || this._socket.readyState === 1) this._socket.close(1000);
    this._closedBy({ code: 1000, reason: 'closed by the client' });
  }

  _requireMembership() {
    if (this._closed) throw new ConnectionError('closed', 'the connection is closed');
    if (!this.membership) throw new ConnectionError('closed', 'not a member of a session: join first');
    return this.membership;
  }

  _sendText(text) {
    this._lastSent = now();
    this._socket.send(text);
  }

  _sendDatagram(header, payload, force = false) {
    const sequence = this._sequence = (this._sequence + 1) >>> 0;
    if (!force && this._socket.bufferedAmount > this.maxBufferedBytes) {
      this.stats.droppedBacklog += 1;
      return null;
    }
    this._socket.send(encodeDatagram({ ...header, session: this._sessionLow, sequence }, payload));
    this._lastSent = now();
    this.stats.sent += 1;
    return sequence;
  }

  _startKeepAlive() {
    if (!(this.keepAliveMs > 0)) return;
    // The relay closes a connection that completes no message for its control idle timeout
    // (30 s by default); datagrams count too on a WebSocket, so only a quiet member pings.
    this._keepAlive = setInterval(() => {
      if (now() - this._lastSent >= this.keepAliveMs / 2) this.controlPing().catch(() => {});
    }, this.keepAliveMs / 2);
    this._keepAlive.unref?.();
  }

  _receive(data) {
    if (typeof data === 'string') {
      this._receiveText(data);
    } else if (data instanceof ArrayBuffer) {
      this._receiveBinary(new Uint8Array(data));
    } else if (ArrayBuffer.isView(data)) {
      this._receiveBinary(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } else if (typeof data?.arrayBuffer === 'function') {
      // A Blob, where the runtime ignored binaryType.
      data.arrayBuffer().then((buffer) => this._receiveBinary(new Uint8Array(buffer)));
    }
  }

  _receiveText(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      this._emit('error', new Error(`the relay sent a text message that is not JSON: ${text.slice(0, 80)}`));
      return;
    }
    if (message === null || typeof message !== 'object') return;
    if (typeof message.event === 'string') {
      this._event(message);
      return;
    }
    const pending = this._pending.get(message.id);
    if (!pending) {
      if (message.ok === false) this._emit('error', new RelayError(message.error?.code ?? 'unknown', message.error?.message ?? ''));
      return;
    }
    this._pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok === true) {
      pending.resolve(message);
    } else {
      pending.reject(new RelayError(message.error?.code ?? 'unknown', message.error?.message ?? ''));
    }
  }

  _event(event) {
    const membership = this.membership;
    if (membership) {
      switch (event.event) {
        case 'joined': membership.members.set(event.member, event.name ?? ''); break;
        case 'left': membership.members.delete(event.member); break;
        case 'owner': membership.owner = event.member; break;
        case 'kicked': this._endMembership(); break;
      }
    }
    this._emit('event', event);
    this._emit(event.event, event);
  }

  _receiveBinary(bytes) {
    const datagram = decodeDatagram(bytes);
    if (!datagram) {
      this.stats.droppedMalformed += 1;
      return;
    }
    switch (datagram.type) {
      case PacketType.DATA:
        this.stats.received += 1;
        this._emit('data', {
          from: datagram.member, sequence: datagram.sequence, payload: datagram.payload,
          target: datagram.target, latest: (datagram.flags & LATEST) !== 0, tick: null,
        });
        break;
      case PacketType.AGGREGATE: {
        const entries = decodeAggregateEntries(datagram.payload);
        if (!entries) {
          this.stats.droppedMalformed += 1;
          return;
        }
        this.stats.received += 1;
        for (const entry of entries) {
          this._emit('data', {
            from: entry.member, sequence: entry.sequence, payload: entry.payload,
            target: BROADCAST, latest: true, tick: datagram.sequence,
          });
        }
        break;
      }
      case PacketType.PONG: {
        const ping = this._pings.get(datagram.sequence);
        if (!ping) return;
        this._pings.delete(datagram.sequence);
        clearTimeout(ping.timer);
        ping.resolve(now() - ping.sentAt);
        break;
      }
      default:
        break;
    }
  }

  _endMembership() {
    this.membership = null;
    this._sessionLow = 0;
  }

  _closedBy(event) {
    if (this._closed) return;
    this._closed = true;
    clearInterval(this._keepAlive);
    const error = new ConnectionError('closed', `the connection closed (code ${event?.code ?? 1006})`);
    for (const pending of this._pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this._pending.clear();
    for (const ping of this._pings.values()) {
      clearTimeout(ping.timer);
      ping.reject(error);
    }
    this._pings.clear();
    this._endMembership();
    this._emit('close', { code: event?.code ?? 1006, reason: event?.reason ?? '' });
  }

  _emit(type, value) {
    const listeners = this._listeners.get(type);
    if (!listeners) return;
    for (const listener of [...listeners]) {
      try {
        listener(value);
      } catch (error) {
        // A throwing listener must not stop the others or the receive path.
        if (type !== 'error') this._emit('error', error);
      }
    }
  }
}
