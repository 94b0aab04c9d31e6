// The browser half of browser.test.mjs: joins the session the test's native UDP member made,
// exchanges DATA with it through the relay, measures RTT, shows what happened on the page (for the
// screenshot) and POSTs the result back to the test's server.

import { GameRelay } from '/gamerelay.js';

const parameters = new URLSearchParams(location.search);
const log = document.getElementById('log');
const status = document.getElementById('status');
const say = (line) => { log.textContent += `${line}\n`; };

async function report(result) {
  status.textContent = result.ok ? 'passed' : `failed: ${result.error}`;
  status.className = result.ok ? 'ok' : 'failed';
  await fetch('/result', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) });
}

window.addEventListener('error', (event) => report({ ok: false, error: `uncaught: ${event.message}` }));
window.addEventListener('unhandledrejection', (event) => report({ ok: false, error: `unhandled: ${event.reason}` }));

async function run() {
  const relay = await GameRelay.connect(parameters.get('relay'), { client: 'browser-test/1' });
  say(`connected to ${relay.info.server}, features ${relay.info.features.join(', ')}`);
  const membership = await relay.join({ code: parameters.get('code'), name: 'browser' });
  say(`joined as member ${membership.member}; others: ${[...membership.members].map(([id, name]) => `${id} (${name})`).join(', ')}`);
  const reply = new Promise((resolve) => relay.on('data', resolve));
  const sent = relay.send(`hello from ${navigator.userAgent.includes('Chrome') ? 'chromium' : 'a browser'}`);
  say(`sent DATA #${sent}`);
  const data = await Promise.race([
    reply,
    new Promise((_, reject) => setTimeout(() => reject(new Error('no DATA from the native member within 10 s')), 10_000)),
  ]);
  const text = new TextDecoder().decode(data.payload);
  say(`received DATA #${data.sequence} from member ${data.from}: "${text}"`);
  const rtt = await relay.ping();
  say(`RTT through the relay: ${rtt.toFixed(2)} ms`);
  await report({
    ok: true, member: membership.member, sent, userAgent: navigator.userAgent,
    received: { from: data.from, sequence: data.sequence, text }, rtt,
  });
  relay.close();
}

run().catch((error) => report({ ok: false, error: String(error) }));
