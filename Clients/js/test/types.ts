// Type-checked by test.sh (tsc --noEmit --strict): gamerelay.d.ts describes the module as a
// TypeScript game would use it. Not run; a wrong declaration fails the compile.

import {
  GameRelay, RelayError, ConnectionError, BROADCAST, decodeDatagram, type ReceivedData, type RelayEvent,
} from '../gamerelay.js';

export async function usage(url: string): Promise<number> {
  const relay = await GameRelay.connect(url, { client: 'types/1', keepAliveMs: 5000 });
  const features: string[] = relay.info?.features ?? [];
  const created = await relay.create({ capacity: 8, ...(relay.offers('tick') && { tick: 30 }) });
  const code: string = created.code;
  const membership = await relay.join({ code, name: 'alice' });
  const others: Map<number, string> = membership.members;
  const stop: () => void = relay.on('data', (data: ReceivedData) => {
    const from: number = data.from;
    const tick: number | null = data.tick;
    void [from, tick, data.payload.byteLength];
  });
  relay.on('left', (event) => {
    const reason: 'leave' | 'disconnect' | 'kick' | 'timeout' = event.reason;
    void reason;
  });
  relay.on('event', (event: RelayEvent) => {
    if (event.event === 'shutdown') void event.drainMs;
  });
  relay.on('close', ({ code: closeCode }) => void closeCode);
  const sequence: number | null = relay.send(new Float32Array([1, 2]), { latest: true });
  relay.send('chat', { to: membership.owner });
  const rtt: number = await relay.ping({ timeoutMs: 1000 });
  try {
    await relay.join({ session: membership.session });
  } catch (error) {
    if (error instanceof RelayError) void error.code.toUpperCase();
    if (error instanceof ConnectionError && error.code === 'timeout') void error.message;
  }
  const datagram = decodeDatagram(new Uint8Array(16));
  if (datagram && datagram.target === BROADCAST) void datagram.payload;
  stop();
  await relay.leave();
  relay.close();
  return rtt + (sequence ?? 0) + features.length + others.size;
}
