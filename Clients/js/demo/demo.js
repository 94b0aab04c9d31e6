// Every open tab is a dot that follows its mouse; positions travel through GameRelay. The first
// tab creates a session (a 30 Hz tick session when the relay offers per-tick aggregation, plain
// LATEST broadcasts otherwise) and puts its join code in the URL: open that URL in more tabs.
//
// Query parameters: relay (the relay's WebSocket URL; default ws[s]://<this host>:7400/v1/ws),
// code (a session's join code), name (this tab's label), hue (its dot's colour, 0…359).

import { GameRelay } from '../gamerelay.js';

const SEND_HZ = 30;
// x, y (0…65535 across the field), the sender's RTT to the relay in 0.01 ms, its hue.
const STATE_BYTES = 8;

const parameters = new URLSearchParams(location.search);
const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
const relayURL = parameters.get('relay') ?? `${scheme}://${location.hostname || '127.0.0.1'}:7400/v1/ws`;
const name = parameters.get('name') ?? `tab-${Math.floor(Math.random() * 900 + 100)}`;
const hue = Number(parameters.get('hue') ?? Math.floor(Math.random() * 360)) % 360;

const canvas = document.getElementById('field');
const context = canvas.getContext('2d');
const statusLine = document.getElementById('status');
const shareLine = document.getElementById('share');
const errorLine = document.getElementById('error');

/** What the page shows, also read by the demo's browser test. */
const demo = {
  self: { x: 0.5, y: 0.5, rtt: null, hue, name },
  peers: new Map(),
  relay: null,
  mode: '',
  moved: true,
};
window.demo = demo;

function encodeState(state) {
  const bytes = new Uint8Array(STATE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, Math.round(state.x * 65535));
  view.setUint16(2, Math.round(state.y * 65535));
  view.setUint16(4, Math.min(65535, Math.round((state.rtt ?? 0) * 100)));
  view.setUint16(6, state.hue);
  return bytes;
}

function decodeState(payload) {
  if (payload.length !== STATE_BYTES) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return { x: view.getUint16(0) / 65535, y: view.getUint16(2) / 65535, rtt: view.getUint16(4) / 100, hue: view.getUint16(6) % 360 };
}

function draw() {
  const width = canvas.width = canvas.clientWidth * devicePixelRatio;
  const height = canvas.height = canvas.clientHeight * devicePixelRatio;
  context.clearRect(0, 0, width, height);
  const dot = (state, label) => {
    const x = state.x * width;
    const y = state.y * height;
    context.fillStyle = `hsl(${state.hue} 80% 60%)`;
    context.beginPath();
    context.arc(x, y, 12 * devicePixelRatio, 0, Math.PI * 2);
    context.fill();
    context.fillStyle = '#e2e8f0';
    context.font = `${13 * devicePixelRatio}px system-ui, sans-serif`;
    context.fillText(label, x + 16 * devicePixelRatio, y + 5 * devicePixelRatio);
  };
  for (const peer of demo.peers.values()) {
    dot(peer, `${peer.name} · ${peer.rtt.toFixed(2)} ms`);
  }
  dot(demo.self, `${name} (you)${demo.self.rtt === null ? '' : ` · ${demo.self.rtt.toFixed(2)} ms`}`);
  requestAnimationFrame(draw);
}

canvas.addEventListener('pointermove', (event) => {
  demo.self.x = Math.min(1, Math.max(0, event.clientX / canvas.clientWidth));
  demo.self.y = Math.min(1, Math.max(0, event.clientY / canvas.clientHeight));
  demo.moved = true;
});

async function start() {
  const relay = await GameRelay.connect(relayURL, { client: 'gamerelay-dots/1' });
  demo.relay = relay;
  let code = parameters.get('code');
  if (!code) {
    const tick = relay.offers('tick') ? SEND_HZ : undefined;
    ({ code } = await relay.create({ capacity: 16, tick }));
    parameters.set('code', code);
    history.replaceState(null, '', `${location.pathname}?${parameters}`);
  }
  const membership = await relay.join({ code, name });
  shareLine.innerHTML = `Session <b>${code}</b>: open <a href="${location.href}" target="_blank">this page</a> in more tabs.`;

  relay.on('data', ({ from, payload, tick }) => {
    const state = decodeState(payload);
    if (!state) return;
    demo.mode = tick === null ? 'DATA' : 'AGGREGATE';
    demo.peers.set(from, { ...state, name: relay.membership?.members.get(from) ?? `member ${from}` });
  });
  relay.on('left', ({ member }) => demo.peers.delete(member));
  relay.on('close', ({ code: closeCode }) => { errorLine.textContent = `disconnected (code ${closeCode}): reload to rejoin`; });

  // Positions as LATEST broadcasts: a stale one is never worth delivering after a newer one.
  // An unmoved dot still goes out once a second, so a newly opened tab sees it.
  let lastSent = 0;
  setInterval(() => {
    if (!relay.membership) return;
    if (!demo.moved && performance.now() - lastSent < 1000) return;
    demo.moved = false;
    lastSent = performance.now();
    relay.send(encodeState(demo.self), { latest: true });
  }, 1000 / SEND_HZ);
  setInterval(async () => {
    try {
      demo.self.rtt = await relay.ping();
    } catch {
      // A lost PONG: the next ping tries again.
    }
  }, 1000);

  const update = () => {
    // A session made by another tab may or may not tick: what arrives tells.
    const mode = { AGGREGATE: 'peers arrive in per-tick AGGREGATEs', DATA: 'peers arrive as LATEST DATA', '': 'waiting for peers' }[demo.mode];
    statusLine.textContent = `${relay.info.server} · member ${membership.member} · ${demo.peers.size + 1} dots · ${mode}`;
  };
  update();
  setInterval(update, 500);
}

requestAnimationFrame(draw);
start().catch((error) => {
  errorLine.textContent = `${error.message} (relay: ${relayURL})`;
});
