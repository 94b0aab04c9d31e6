// gamerelay.js against the real relay binary on loopback, under Node's built-in test runner, with
// the node:net WebSocket where Node has no global one.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  GameRelay, RelayError, ConnectionError, decodeAggregateEntries, decodeDatagram, encodeDatagram,
  BROADCAST, PacketType,
} from '../gamerelay.js';
import { NetWebSocket, netWebSocketWith } from './net-websocket.mjs';
import { NativeMember, next, selfSignedCertificate, startRelay, waitFor } from './fixtures.mjs';

const WebSocket = globalThis.WebSocket ?? NetWebSocket;
const text = (bytes) => new TextDecoder().decode(bytes);

describe('datagram codec', () => {
  test('a header round-trips big-endian, as PROTOCOL.md §2.1 lays it out', () => {
    const bytes = encodeDatagram({ type: PacketType.DATA, flags: 1, session: 0xdeadbeef, member: 0x0102, target: BROADCAST, sequence: 0x01020304 },
      new Uint8Array([9, 8]));
    assert.deepEqual([...bytes], [0x47, 1, 3, 1, 0xde, 0xad, 0xbe, 0xef, 1, 2, 0xff, 0xff, 1, 2, 3, 4, 9, 8]);
    const datagram = decodeDatagram(bytes);
    assert.equal(datagram.session, 0xdeadbeef);
    assert.equal(datagram.sequence, 0x01020304);
    assert.deepEqual([...datagram.payload], [9, 8]);
  });

  test('short, wrong-magic and wrong-version datagrams decode to null', () => {
    assert.equal(decodeDatagram(new Uint8Array(15)), null);
    const good = encodeDatagram({ type: 3, session: 1, member: 1, sequence: 1 });
    assert.notEqual(decodeDatagram(good), null);
    assert.equal(decodeDatagram(Uint8Array.from(good, (byte, index) => (index === 0 ? 0x48 : byte))), null);
    assert.equal(decodeDatagram(Uint8Array.from(good, (byte, index) => (index === 1 ? 2 : byte))), null);
  });

  test('AGGREGATE entries decode in order, and a cut or padded payload is refused whole', () => {
    const entries = [0, 2, 0, 0, 0, 7, 0, 2, 0xaa, 0xbb, 0, 5, 0xff, 0xff, 0xff, 0xff, 0, 0];
    const decoded = decodeAggregateEntries(new Uint8Array(entries));
    assert.deepEqual(decoded.map((entry) => [entry.member, entry.sequence, [...entry.payload]]),
      [[2, 7, [0xaa, 0xbb]], [5, 0xffffffff, []]]);
    assert.equal(decodeAggregateEntries(new Uint8Array(entries.slice(0, -1))), null);
    assert.equal(decodeAggregateEntries(new Uint8Array([...entries, 0])), null);
    assert.equal(decodeAggregateEntries(new Uint8Array([0, 2, 0, 0, 0, 7, 0, 3, 0xaa, 0xbb])), null);
    assert.deepEqual(decodeAggregateEntries(new Uint8Array(0)), []);
  });
});

// A WebSocket that never connects anywhere: the test plays the relay's side of it.
class ScriptedWebSocket {
  constructor() {
    this.protocol = 'gamerelay.v1';
    this.readyState = 1;
    this.bufferedAmount = 0;
    this.sent = [];
    ScriptedWebSocket.last = this;
    queueMicrotask(() => this.onopen?.({}));
  }
  send(data) { this.sent.push(data); }
  close() { this.readyState = 3; }
  deliver(data) { this.onmessage?.({ data }); }
}

describe('hostile input from the other end', () => {
  // A small deterministic generator, so a failure replays.
  const random = (() => {
    let state = 0x2545f491;
    return () => {
      state ^= state << 13; state ^= state >>> 17; state ^= state << 5;
      return (state >>> 0) / 0x100000000;
    };
  })();
  const randomBytes = (length) => Uint8Array.from({ length }, () => Math.floor(random() * 256));

  test('random and mutated datagrams never throw, and malformed ones are counted', async () => {
    const relay = new GameRelay('ws://127.0.0.1:9/v1/ws', { WebSocket: ScriptedWebSocket, keepAliveMs: 0 });
    await relay.opened;
    const socket = ScriptedWebSocket.last;
    let delivered = 0;
    let notBytes = 0;
    const errors = [];
    relay.on('data', (data) => {
      if (!(data.payload instanceof Uint8Array) || !Number.isInteger(data.from)) notBytes += 1;
      delivered += 1;
    });
    relay.on('error', (error) => errors.push(error));
    const aggregate = encodeDatagram({ type: PacketType.AGGREGATE, session: 1, member: 0, target: 2, sequence: 9 },
      new Uint8Array([0, 3, 0, 0, 0, 1, 0, 2, 7, 7, 0, 4, 0, 0, 0, 2, 0, 0]));
    for (let round = 0; round < 20_000; round++) {
      let bytes;
      if (round % 3 === 0) {
        bytes = randomBytes(Math.floor(random() * 64));
      } else {
        // A valid header of a random type, then random or cut or mutated AGGREGATE bytes.
        bytes = Uint8Array.from(aggregate.subarray(0, Math.floor(random() * (aggregate.length + 1))));
        if (bytes.length > 2) bytes[2] = 1 + Math.floor(random() * 7);
        if (bytes.length > 16 && random() < 0.5) bytes[16 + Math.floor(random() * (bytes.length - 16))] ^= 1 << Math.floor(random() * 8);
      }
      socket.deliver(round % 2 === 0 ? bytes.buffer : bytes);
    }
    assert.deepEqual(errors, []);
    assert.equal(notBytes, 0);
    assert.ok(relay.stats.droppedMalformed > 1000, `malformed counted: ${relay.stats.droppedMalformed}`);
    assert.ok(delivered > 0, 'some mutated datagrams were still valid DATA or AGGREGATE');
  });

  test('text that is not JSON, not an object, or a stray reply never throws; pending requests keep waiting', async () => {
    const relay = new GameRelay('ws://127.0.0.1:9/v1/ws', { WebSocket: ScriptedWebSocket, keepAliveMs: 0, requestTimeoutMs: 60_000 });
    await relay.opened;
    const socket = ScriptedWebSocket.last;
    const errors = [];
    relay.on('error', (error) => errors.push(error));
    const reply = relay.controlPing();
    for (const text of ['', 'nul', '[1,2]', '"x"', '5', 'null', '{"id":999,"ok":true}', '{"ok":false}',
      '{"event":5}', '{"event":"left"}', '{"event":"joined","member":"x"}', '{"id":{},"ok":true}', '{'.repeat(10_000)]) {
      socket.deliver(text);
    }
    assert.equal(errors.filter((error) => error instanceof RelayError).length, 1, 'the reply without an id is reported');
    socket.deliver(JSON.stringify({ id: JSON.parse(socket.sent[0]).id, ok: true }));
    await reply;
    relay.close();
  });
});

describe('against the relay', () => {
  let relay;
  const open = [];
  const connect = async (options = {}) => {
    const client = await GameRelay.connect(options.url ?? relay.wsURL, { WebSocket, ...options });
    open.push(client);
    return client;
  };
  const native = async () => {
    const member = await NativeMember.connect(relay);
    open.push(member);
    return member;
  };
  // A browser member of a session it just created: the client and the session's join code.
  const firstMember = async (created = {}, name = '') => {
    const client = await connect();
    const { code } = await client.create(created);
    const membership = await client.join({ code, name });
    return { client, code, membership };
  };

  before(async () => {
    relay = await startRelay();
  });
  after(async () => {
    for (const client of open) client.close();
    await relay.stop();
  });

  test('hello reports the relay and its extensions', async () => {
    const client = await connect();
    assert.match(client.info.server, /^gamerelay\//);
    assert.ok(client.offers('websocket') && client.offers('tick'));
    assert.equal(client.info.tls, false);
    assert.equal(client.maxDatagram, 1200);
  });

  test('two browser members exchange DATA both ways, with sender and sequence, joined by code and by id', async () => {
    const alice = await connect();
    const bob = await connect();
    const created = await alice.create({ capacity: 4 });
    assert.match(created.session, /^[0-9a-f]{16}$/);
    const a = await alice.join({ code: created.code.toLowerCase(), name: 'alice' });
    const joinedSeen = next(alice, 'joined');
    const b = await bob.join({ session: created.session, name: 'bob' });
    assert.deepEqual([...b.members], [[a.member, 'alice']]);
    assert.equal(b.owner, a.member);
    assert.deepEqual(await joinedSeen, { event: 'joined', member: b.member, name: 'bob' });
    assert.equal(alice.membership.members.get(b.member), 'bob');

    const atBob = next(bob, 'data');
    const sequence = alice.send('from alice', { latest: true });
    const received = await atBob;
    assert.equal(received.from, a.member);
    assert.equal(received.sequence, sequence);
    assert.equal(received.latest, true);
    assert.equal(received.tick, null);
    assert.equal(text(received.payload), 'from alice');

    const atAlice = next(alice, 'data');
    bob.send(new Uint8Array([1, 2, 3]), { to: a.member });
    const back = await atAlice;
    assert.equal(back.from, b.member);
    assert.equal(back.target, a.member);
    assert.deepEqual([...back.payload], [1, 2, 3]);

    const left = next(alice, 'left');
    bob.close();
    assert.deepEqual(await left, { event: 'left', member: b.member, reason: 'disconnect' });
    assert.equal(alice.membership.members.size, 0);
  });

  test('a browser member and a native UDP member share a session both ways', async () => {
    const { client: browser, code, membership: self } = await firstMember({}, 'web');
    const udp = await native();
    const joined = await udp.join({ code, name: 'native' });
    await udp.bind();

    const atNative = udp.nextData();
    const sequence = browser.send('web to udp');
    const datagram = await atNative;
    assert.equal(datagram.member, self.member);
    assert.equal(datagram.sequence, sequence);
    assert.equal(datagram.target, BROADCAST);
    assert.equal(text(datagram.payload), 'web to udp');

    const atBrowser = next(browser, 'data');
    const nativeSequence = udp.send('udp to web', { latest: true });
    const received = await atBrowser;
    assert.equal(received.from, joined.member);
    assert.equal(received.sequence, nativeSequence);
    assert.equal(received.latest, true);
    assert.equal(text(received.payload), 'udp to web');
  });

  test('unicast reaches its one target and no one else', async () => {
    const { client: owner, code } = await firstMember();
    const target = await connect();
    const t = await target.join({ code });
    const bystander = await native();
    await bystander.join({ code });
    await bystander.bind();
    const atTarget = next(target, 'data');
    owner.send('just you', { to: t.member });
    assert.equal(text((await atTarget).payload), 'just you');
    // Then a broadcast: the bystander's first DATA must be the broadcast, not the unicast.
    owner.send('everyone');
    assert.equal(text((await bystander.nextData()).payload), 'everyone');
  });

  test('a tick session delivers AGGREGATE entries with each sender and its sequence', async () => {
    const watcher = await connect();
    const { code, tick } = await watcher.create({ tick: 20 });
    assert.equal(tick, 20);
    await watcher.join({ code, name: 'watcher' });
    const web = await connect();
    const w = await web.join({ code, name: 'web' });
    const udp = await native();
    const u = await udp.join({ code, name: 'udp' });
    await udp.bind();

    const seen = new Map();
    const stop = watcher.on('data', (data) => seen.set(data.from, data));
    const webSequence = web.send('web state', { latest: true });
    const udpSequence = udp.send('udp state', { latest: true });
    await waitFor('both states in AGGREGATEs', () => seen.has(w.member) && seen.has(u.member));
    stop();
    const fromWeb = seen.get(w.member);
    const fromUdp = seen.get(u.member);
    assert.equal(fromWeb.sequence, webSequence);
    assert.equal(fromUdp.sequence, udpSequence);
    assert.equal(text(fromWeb.payload), 'web state');
    assert.equal(text(fromUdp.payload), 'udp state');
    assert.equal(typeof fromWeb.tick, 'number');
    assert.equal(fromWeb.latest, true);
  });

  test('a wrong join code rejects with the relay\'s not_found and its message', async () => {
    const client = await connect();
    await assert.rejects(client.join({ code: 'ZZZZZZ' }), (error) => {
      assert.ok(error instanceof RelayError);
      assert.equal(error.code, 'not_found');
      assert.ok(error.relayMessage.length > 0);
      return true;
    });
    await assert.rejects(client.create({ capacity: 1 }), (error) => error instanceof RelayError && error.code === 'bad_request');
    // The connection stays usable after refusals.
    await client.controlPing();
  });

  test('an oversize payload is refused before it is sent; the largest allowed one arrives', async () => {
    const { client: sender, code } = await firstMember();
    const receiver = await connect();
    await receiver.join({ code });
    const limit = sender.maxDatagram - 16;
    const sentBefore = sender.stats.sent;
    assert.throws(() => sender.send(new Uint8Array(limit + 1)), RangeError);
    assert.equal(sender.stats.sent, sentBefore);
    const arrives = next(receiver, 'data');
    sender.send(new Uint8Array(limit).fill(7));
    assert.equal((await arrives).payload.length, limit);
  });

  test('sending before a join, and a bad target, throw', async () => {
    const client = await connect();
    assert.throws(() => client.send('x'), ConnectionError);
    const { code } = await client.create();
    await client.join({ code });
    assert.throws(() => client.send('x', { to: 0 }), RangeError);
    assert.throws(() => client.send('x', { to: BROADCAST }), RangeError);
    assert.throws(() => client.send(42), TypeError);
  });

  test('ping measures a round trip through the relay', async () => {
    const { client, code } = await firstMember();
    const rtt = await client.ping();
    assert.ok(rtt > 0 && rtt < 2000, `rtt ${rtt}`);
  });

  test('the owner kicks a member: the kicked one hears kicked and is closed', async () => {
    const { client: owner, code } = await firstMember();
    const other = await connect();
    const o = await other.join({ code });
    const kicked = next(other, 'kicked');
    const closed = next(other, 'close');
    const left = next(owner, 'left');
    await owner.kick(o.member);
    await kicked;
    await closed;
    assert.equal(other.membership, null);
    assert.equal((await left).reason, 'kick');
    await assert.rejects(other.controlPing(), ConnectionError);
  });

  test('leave ends the membership, the others hear it, and the connection can join again', async () => {
    const { client: stays, code } = await firstMember();
    const client = await connect();
    const first = await client.join({ code });
    const left = next(stays, 'left');
    await client.leave();
    assert.equal(client.membership, null);
    assert.deepEqual(await left, { event: 'left', member: first.member, reason: 'leave' });
    assert.throws(() => client.send('x'), ConnectionError);
    const again = await client.join({ code });
    assert.ok(again.member > first.member, 'member ids are never reused');
  });
});

describe('connections that fail or end', () => {
  test('a refused upgrade rejects connect with connect_failed; the listed Origin connects', async () => {
    const relay = await startRelay(['--ws-origin', 'https://game.example.com']);
    try {
      await assert.rejects(GameRelay.connect(relay.wsURL, { WebSocket }), (error) => {
        assert.ok(error instanceof ConnectionError);
        assert.equal(error.code, 'connect_failed');
        return true;
      });
      const allowed = await GameRelay.connect(relay.wsURL, { WebSocket: netWebSocketWith({ origin: 'https://game.example.com' }) });
      assert.ok(allowed.offers('websocket'));
      allowed.close();
    } finally {
      await relay.stop();
    }
  });

  test('a relay that drains sends shutdown, and closing after it', async () => {
    const relay = await startRelay(['--drain-timeout', '0.5']);
    try {
      const client = await GameRelay.connect(relay.wsURL, { WebSocket });
      const shutdown = next(client, 'shutdown');
      const closing = next(client, 'closing');
      const closed = next(client, 'close');
      relay.process.kill('SIGTERM');
      assert.equal((await shutdown).drainMs, 500);
      assert.equal((await closing).reason, 'drain');
      assert.equal((await closed).code, 1001);
      assert.equal(await relay.exited, 0);
    } finally {
      await relay.stop();
    }
  });

  test('wss:// through the relay\'s TLS reports tls and carries data', async () => {
    const certificate = selfSignedCertificate();
    const relay = await startRelay(['--tls-cert', certificate.cert, '--tls-key', certificate.key]);
    try {
      const SecureWebSocket = netWebSocketWith({ ca: certificate.pem });
      const url = `wss://127.0.0.1:${relay.port}/v1/ws`;
      const first = await GameRelay.connect(url, { WebSocket: SecureWebSocket });
      const second = await GameRelay.connect(url, { WebSocket: SecureWebSocket });
      assert.equal(first.info.tls, true);
      assert.ok(first.offers('tls'));
      const { code } = await first.create();
      await first.join({ code });
      await second.join({ code });
      const arrives = next(second, 'data');
      first.send('over tls');
      assert.equal(text((await arrives).payload), 'over tls');
      first.close();
      second.close();
    } finally {
      await relay.stop();
      certificate.remove();
    }
  });

  test('a quiet client stays connected past the control idle timeout by its keep-alive', async () => {
    const relay = await startRelay(['--control-idle-timeout', '1']);
    try {
      const client = await GameRelay.connect(relay.wsURL, { WebSocket, keepAliveMs: 300 });
      const silent = await GameRelay.connect(relay.wsURL, { WebSocket, keepAliveMs: 0 });
      const silentClosing = next(silent, 'closing', 5000);
      assert.equal((await silentClosing).reason, 'idle');
      // The silent one was closed for idling after 1 s; the other, as quiet but for its
      // keep-alive, still answers.
      await client.controlPing();
      client.close();
    } finally {
      await relay.stop();
    }
  });
});
