// Types for gamerelay.js: GameRelay's client for browsers over one WebSocket (PROTOCOL.md §7).

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION: 1;
/** The WebSocket subprotocol the relay requires. */
export const SUBPROTOCOL: 'gamerelay.v1';
/** The size of every datagram's header. */
export const HEADER_SIZE: 16;
/** The `target` that sends DATA to every other member. */
export const BROADCAST: 0xffff;
/** The LATEST flag bit. */
export const LATEST: 0x01;
/** The datagram types of PROTOCOL.md §2.1. */
export const PacketType: Readonly<{ BIND: 1; BIND_ACK: 2; DATA: 3; PING: 4; PONG: 5; AGGREGATE: 6 }>;

/** A datagram's header fields (PROTOCOL.md §2.1). */
export interface DatagramHeader {
  type: number;
  flags?: number;
  /** The low 32 bits of the session id. */
  session: number;
  member: number;
  target?: number;
  sequence: number;
}

/** A decoded datagram; `payload` is a view into the bytes it was read from. */
export interface Datagram extends Required<DatagramHeader> {
  payload: Uint8Array;
}

/** One entry of an AGGREGATE (PROTOCOL.md §8). */
export interface AggregateEntry {
  member: number;
  sequence: number;
  payload: Uint8Array;
}

/** Writes a datagram: header and payload. */
export function encodeDatagram(header: DatagramHeader, payload?: Uint8Array): Uint8Array;
/** Reads a datagram, or null when it is short or has the wrong magic or version. */
export function decodeDatagram(bytes: Uint8Array): Datagram | null;
/** Reads an AGGREGATE's entries, or null when they don't end exactly at the payload's end. */
export function decodeAggregateEntries(payload: Uint8Array): AggregateEntry[] | null;

/** A request the relay refused. */
export class RelayError extends Error {
  constructor(code: string, message: string);
  readonly name: 'RelayError';
  /** The protocol's error code, such as `not_found`, `full`, `rate_limited`. */
  readonly code: string;
  /** The relay's human-readable text. */
  readonly relayMessage: string;
}

/** The connection failed or ended, or a reply did not come in time. */
export class ConnectionError extends Error {
  constructor(code: 'connect_failed' | 'closed' | 'timeout', message: string);
  readonly name: 'ConnectionError';
  readonly code: 'connect_failed' | 'closed' | 'timeout';
}

/** The smallest WebSocket interface the client needs: the browser's, or an injected class's. */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code?: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

/** A class that opens a WebSocket, as the global `WebSocket` does. */
export type WebSocketClass = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Options of {@link GameRelay.connect}. */
export interface GameRelayOptions {
  /** The WebSocket class, for runtimes without a global one (Node before 22). */
  WebSocket?: WebSocketClass;
  /** The `client` text sent in `hello`. */
  client?: string;
  /** How long a request waits for its reply, in ms (10000). */
  requestTimeoutMs?: number;
  /** The control `ping` interval when nothing else is sent, in ms (10000; 0: none). */
  keepAliveMs?: number;
  /** Unsent bytes beyond which `send` drops data instead of queueing it (262144). */
  maxBufferedBytes?: number;
}

/** The relay's `hello` answer. */
export interface RelayInfo {
  ok: true;
  protocol: number;
  server: string;
  udp: { port: number };
  maxDatagram: number;
  idleTimeoutMs: number;
  features: string[];
  tls: boolean;
  [field: string]: unknown;
}

/** A created session. */
export interface CreatedSession {
  /** The 16-hex-digit session id. */
  session: string;
  /** The 6-character join code. */
  code: string;
  capacity: number;
  /** The aggregation rate in Hz, for a tick session. */
  tick?: number;
}

/** This connection's membership. */
export interface Membership {
  session: string;
  member: number;
  owner: number;
  /** The other members: id to name, kept current from `joined` and `left` events. */
  members: Map<number, string>;
}

/** One update from another member: a DATA datagram, or one entry of an AGGREGATE. */
export interface ReceivedData {
  /** The sender's member id. */
  from: number;
  /** The sender's sequence number. */
  sequence: number;
  /** The application bytes (a view; copy them to keep them past the listener). */
  payload: Uint8Array;
  /** The datagram's target: this member's id for unicast, else BROADCAST. */
  target: number;
  /** Whether the sender set LATEST. */
  latest: boolean;
  /** The session's tick number for an AGGREGATE entry; null for DATA forwarded at once. */
  tick: number | null;
}

/** An event the relay pushed (PROTOCOL.md §1.4). */
export type RelayEvent =
  | { event: 'joined'; member: number; name: string }
  | { event: 'left'; member: number; reason: 'leave' | 'disconnect' | 'kick' | 'timeout' }
  | { event: 'owner'; member: number }
  | { event: 'bound'; address: string }
  | { event: 'unbound'; reason: 'idle' }
  | { event: 'kicked' }
  | { event: 'shutdown'; drainMs: number }
  | { event: 'closing'; reason: 'idle' | 'drain' };

/** What each listener type receives. */
export interface GameRelayEvents {
  data: ReceivedData;
  event: RelayEvent;
  joined: Extract<RelayEvent, { event: 'joined' }>;
  left: Extract<RelayEvent, { event: 'left' }>;
  owner: Extract<RelayEvent, { event: 'owner' }>;
  bound: Extract<RelayEvent, { event: 'bound' }>;
  unbound: Extract<RelayEvent, { event: 'unbound' }>;
  kicked: Extract<RelayEvent, { event: 'kicked' }>;
  shutdown: Extract<RelayEvent, { event: 'shutdown' }>;
  closing: Extract<RelayEvent, { event: 'closing' }>;
  close: { code: number; reason: string };
  error: Error;
}

/** A member's connection to a GameRelay over one WebSocket. */
export class GameRelay {
  /** Opens the WebSocket and says hello. */
  static connect(url: string, options?: GameRelayOptions): Promise<GameRelay>;
  /** Starts connecting; `connect` also waits for the socket and says hello. */
  constructor(url: string, options?: GameRelayOptions);
  readonly url: string;
  /** Resolves when the WebSocket is open with the gamerelay.v1 subprotocol. */
  readonly opened: Promise<void>;
  /** The relay's `hello` answer; null before it. */
  info: RelayInfo | null;
  /** The membership; null outside a session. */
  membership: Membership | null;
  /** The largest datagram the relay accepts, header included. */
  maxDatagram: number;
  /** Datagrams sent and received, and those dropped here. */
  readonly stats: { sent: number; received: number; droppedBacklog: number; droppedMalformed: number };
  /** Adds a listener; returns its remover. */
  on<K extends keyof GameRelayEvents>(type: K, listener: (value: GameRelayEvents[K]) => void): () => void;
  /** Removes a listener. */
  off<K extends keyof GameRelayEvents>(type: K, listener: (value: GameRelayEvents[K]) => void): void;
  /** Sends `hello` and keeps the answer in `info`. */
  hello(): Promise<RelayInfo>;
  /** Whether the relay offers an extension (`tls`, `websocket`, `tick`). */
  offers(feature: string): boolean;
  /** Creates a session, without joining it. */
  create(options?: { capacity?: number; tick?: number }): Promise<CreatedSession>;
  /** Joins by exactly one of `code` and `session`. */
  join(target: { code: string; name?: string } | { session: string; name?: string }): Promise<Membership>;
  /** Leaves the session; the connection stays open. */
  leave(): Promise<void>;
  /** Removes a member (owner only). */
  kick(member: number): Promise<void>;
  /** A control-channel round trip. */
  controlPing(): Promise<void>;
  /** Sends DATA; returns its sequence, or null when dropped for backlog. Throws RangeError when oversize. */
  send(payload: string | ArrayBuffer | ArrayBufferView, options?: { to?: number; latest?: boolean }): number | null;
  /** A data-channel PING; resolves with the round trip in ms. */
  ping(options?: { timeoutMs?: number }): Promise<number>;
  /** Sends one control request; resolves with the reply, rejects with RelayError or ConnectionError. */
  request(message: { op: string; [field: string]: unknown }): Promise<Record<string, unknown>>;
  /** Closes the connection (a disconnect for the others). */
  close(): void;
}
