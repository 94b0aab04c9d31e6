// gamerelay.js in a real browser: headless Chromium loads a test page over HTTP, joins the session
// a native UDP member made, and the two exchange DATA through the real relay. The page POSTs what
// it saw; the test checks it against what the native member sent and received, and keeps a
// screenshot of the page (GAMERELAY_JS_ARTIFACTS, default Clients/js/.artifacts).

import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { Chromium } from './chromium.mjs';
import { NativeMember, startRelay, waitFor } from './fixtures.mjs';
import { startStaticServer } from './static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.GAMERELAY_JS_ARTIFACTS ?? path.join(here, '..', '.artifacts');
const text = (bytes) => new TextDecoder().decode(bytes);

let relay;
let server;
let browser;

before(async () => {
  relay = await startRelay();
  server = await startStaticServer();
  browser = await Chromium.launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
  await relay?.stop();
});

test('a page in Chromium and a native UDP member exchange DATA through the relay', async () => {
  const native = await NativeMember.connect(relay);
  try {
    const created = await native.request({ op: 'create', capacity: 4 });
    assert.equal(created.ok, true);
    const self = await native.join({ code: created.code, name: 'native' });
    await native.bind();

    const result = server.nextResult(30_000);
    const page = `${server.origin}/test/browser/index.html?relay=${encodeURIComponent(relay.wsURL)}&code=${created.code}`;
    const consoleLines = [];
    const stopConsole = browser.onEvent((message) => {
      if (message.method === 'Runtime.consoleAPICalled') consoleLines.push(message.params.args.map((arg) => arg.value).join(' '));
      if (message.method === 'Runtime.exceptionThrown') consoleLines.push(message.params.exceptionDetails.text);
    });
    const sessionId = await browser.open(page);

    // The browser speaks first; the native member answers the member that spoke.
    const fromBrowser = await native.nextData(() => true, 15_000);
    assert.equal(text(fromBrowser.payload), 'hello from chromium');
    const replySequence = native.send('hello from native', { to: fromBrowser.member });

    let outcome;
    try {
      outcome = await result;
    } finally {
      stopConsole();
      const file = await browser.screenshot(sessionId, path.join(artifacts, 'browser-test.png'));
      console.log(`screenshot: ${path.relative(process.cwd(), file)}`);
    }
    assert.equal(outcome.ok, true, `the page failed: ${outcome.error}; console: ${consoleLines.join(' | ')}`);
    assert.equal(outcome.member, fromBrowser.member, 'the page joined as the member whose DATA arrived');
    assert.equal(outcome.sent, fromBrowser.sequence);
    assert.deepEqual(outcome.received, { from: self.member, sequence: replySequence, text: 'hello from native' });
    assert.ok(outcome.rtt > 0 && outcome.rtt < 2000, `rtt ${outcome.rtt}`);
    assert.match(outcome.userAgent, /Chrome\//);
    console.log(`${outcome.userAgent.match(/(Headless)?Chrome\/[\d.]+/)[0]}: member ${outcome.member}, RTT ${outcome.rtt.toFixed(2)} ms`);
  } finally {
    native.close();
  }
});

test('the demo: two tabs see each other\'s dot where the other\'s mouse is', async () => {
  const demo = `${server.origin}/demo/index.html?relay=${encodeURIComponent(relay.wsURL)}`;
  const first = await browser.open(`${demo}&name=amber&hue=40`);
  // The first tab creates the session and writes its join code into its own URL.
  const code = await waitFor('the first tab\'s join code', () =>
    browser.evaluate(first, 'new URLSearchParams(location.search).get("code")'), 15_000);
  const second = await browser.open(`${demo}&name=teal&hue=180&code=${code}`);
  await browser.moveMouse(first, 200, 240);
  await browser.moveMouse(second, 560, 380);
  const size = await browser.evaluate(second, '[innerWidth, innerHeight]');
  const sees = (tab, x, y) => browser.evaluate(tab, `(() => {
    const peers = [...window.demo.peers.values()];
    return peers.length === 1 && Math.abs(peers[0].x - ${x / size[0]}) < 0.01 && Math.abs(peers[0].y - ${y / size[1]}) < 0.01
      && peers[0].rtt > 0 ? peers[0] : null;
  })()`);
  const fromSecond = await waitFor('the first tab showing the second\'s dot', () => sees(first, 560, 380), 15_000);
  const fromFirst = await waitFor('the second tab showing the first\'s dot', () => sees(second, 200, 240), 15_000);
  assert.equal(fromSecond.name, 'teal');
  assert.equal(fromFirst.name, 'amber');
  for (const [tab, file] of [[first, 'demo-tab-1.png'], [second, 'demo-tab-2.png']]) {
    await browser.send('Page.bringToFront', {}, tab);
    console.log(`screenshot: ${path.relative(process.cwd(), await browser.screenshot(tab, path.join(artifacts, file)))}`);
  }
});

