// A small RFC 6455 client over node:net and node:tls with the browser's WebSocket interface
// (onopen, onmessage, onclose, onerror, send, close, readyState, protocol, bufferedAmount), so
// gamerelay.js runs under Node versions that have no global WebSocket (before 22). It checks
// what a browser checks: the 101, Sec-WebSocket-Accept, the subprotocol, unmasked server frames.

import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD = 16 * 1024;
// Far above anything the relay sends (a reply, an event, a datagram); a bound, so a broken
// server can't make the test process buffer without end.
const MAX_MESSAGE = 1 << 20;
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** A WebSocket client with the browser's interface, for Node without a global WebSocket. */
export class NetWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  /**
   * @param {string} url ws:// or wss://
   * @param {string|string[]} [protocols]
   * @param {{ca?: string|Buffer, origin?: string, rejectUnauthorized?: boolean}} [options]
   */
  constructor(url, protocols = [], options = {}) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new SyntaxError(`not a WebSocket URL: ${url}`);
    this.url = url;
    this.protocol = '';
    this.binaryType = 'arraybuffer';
    this.readyState = NetWebSocket.CONNECTING;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    this._offered = typeof protocols === 'string' ? [protocols] : protocols;
    this._key = crypto.randomBytes(16).toString('base64');
    this._buffer = Buffer.alloc(0);
    this._fragments = [];
    this._fragmentsLength = 0;
    this._fragmentOpcode = 0;
    this._closeSent = false;
    this._closeEvent = null;
    const secure = parsed.protocol === 'wss:';
    const port = Number(parsed.port || (secure ? 443 : 80));
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    this._socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ca: options.ca,
                      rejectUnauthorized: options.rejectUnauthorized ?? true, ALPNProtocols: ['http/1.1'] })
      : net.connect({ host, port });
    this._socket.setNoDelay(true);
    this._socket.once(secure ? 'secureConnect' : 'connect', () => {
      const lines = [
        `GET ${parsed.pathname}${parsed.search} HTTP/1.1`,
        `Host: ${parsed.host}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${this._key}`,
        'Sec-WebSocket-Version: 13',
      ];
      if (this._offered.length > 0) lines.push(`Sec-WebSocket-Protocol: ${this._offered.join(', ')}`);
      if (options.origin) lines.push(`Origin: ${options.origin}`);
      this._socket.write(lines.join('\r\n') + '\r\n\r\n');
    });
    this._socket.on('data', (chunk) => this._read(chunk));
    this._socket.on('error', (error) => {
      this._error = error;
    });
    this._socket.on('close', () => this._finish(1006, ''));
  }

  /** Unsent bytes: what the socket has not yet handed to the kernel. */
  get bufferedAmount() {
    return this._socket.writableLength;
  }

  /** Sends a text (string) or binary (ArrayBuffer, typed array) message. */
  send(data) {
    if (this.readyState === NetWebSocket.CONNECTING) throw new Error('InvalidStateError: still connecting');
    if (this.readyState !== NetWebSocket.OPEN) return;
    if (typeof data === 'string') {
      this._writeFrame(0x1, Buffer.from(data, 'utf8'));
    } else if (data instanceof ArrayBuffer) {
      this._writeFrame(0x2, Buffer.from(data));
    } else if (ArrayBuffer.isView(data)) {
      this._writeFrame(0x2, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    } else {
      throw new TypeError('send takes a string, an ArrayBuffer or a typed array');
    }
  }

  /** Starts the closing handshake (or drops a connection that never opened). */
  close(code = 1000, reason = '') {
    if (this.readyState === NetWebSocket.CLOSED || this.readyState === NetWebSocket.CLOSING) return;
    if (this.readyState === NetWebSocket.CONNECTING) {
      this.readyState = NetWebSocket.CLOSING;
      this._socket.destroy();
      return;
    }
    this.readyState = NetWebSocket.CLOSING;
    this._sendClose(code, reason);
    // A server that never answers the close still lets the test end.
    setTimeout(() => this._socket.destroy(), 2000).unref();
  }

  _sendClose(code, reason) {
    if (this._closeSent) return;
    this._closeSent = true;
    const reasonBytes = Buffer.from(reason, 'utf8');
    const payload = Buffer.alloc(2 + reasonBytes.length);
    payload.writeUInt16BE(code, 0);
    reasonBytes.copy(payload, 2);
    this._writeFrame(0x8, payload);
  }

  _writeFrame(opcode, payload) {
    const mask = crypto.randomBytes(4);
    let header;
    if (payload.length < 126) {
      header = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
    } else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    const masked = Buffer.alloc(payload.length);
    for (let index = 0; index < payload.length; index++) masked[index] = payload[index] ^ mask[index & 3];
    this._socket.write(Buffer.concat([header, mask, masked]));
  }

  _read(chunk) {
    this._buffer = this._buffer.length === 0 ? chunk : Buffer.concat([this._buffer, chunk]);
    if (this.readyState === NetWebSocket.CONNECTING && !this._readHead()) return;
    this._readFrames();
  }

  _readHead() {
    const end = this._buffer.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this._buffer.length > MAX_HEAD) this._fail('the server sent an HTTP head over 16 KiB');
      return false;
    }
    const head = this._buffer.subarray(0, end).toString('latin1');
    this._buffer = this._buffer.subarray(end + 4);
    const [statusLine, ...fieldLines] = head.split('\r\n');
    const fields = new Map();
    for (const line of fieldLines) {
      const colon = line.indexOf(':');
      if (colon > 0) fields.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    this.status = Number(statusLine.split(' ')[1]);
    if (this.status !== 101) {
      this._fail(`the server answered ${statusLine}`);
      return false;
    }
    const accept = crypto.createHash('sha1').update(this._key + GUID).digest('base64');
    if (fields.get('sec-websocket-accept') !== accept) {
      this._fail('wrong Sec-WebSocket-Accept');
      return false;
    }
    const protocol = fields.get('sec-websocket-protocol') ?? '';
    if (protocol !== '' && !this._offered.includes(protocol)) {
      this._fail(`the server chose a subprotocol nobody offered: ${protocol}`);
      return false;
    }
    this.protocol = protocol;
    this.readyState = NetWebSocket.OPEN;
    this.onopen?.({ type: 'open' });
    return true;
  }

  _readFrames() {
    while (this.readyState === NetWebSocket.OPEN || this.readyState === NetWebSocket.CLOSING) {
      const buffer = this._buffer;
      if (buffer.length < 2) return;
      const fin = (buffer[0] & 0x80) !== 0;
      const opcode = buffer[0] & 0x0f;
      if ((buffer[1] & 0x80) !== 0) return this._protocolError('a server frame was masked');
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        const long = buffer.readBigUInt64BE(2);
        if (long > BigInt(MAX_MESSAGE)) return this._protocolError('a frame over 1 MiB', 1009);
        length = Number(long);
        offset = 10;
      }
      if (length > MAX_MESSAGE) return this._protocolError('a frame over 1 MiB', 1009);
      if (buffer.length < offset + length) return;
      const payload = buffer.subarray(offset, offset + length);
      this._buffer = buffer.subarray(offset + length);
      if (opcode >= 0x8) {
        if (!fin || length > 125) return this._protocolError('a fragmented or long control frame');
        this._control(opcode, payload);
        continue;
      }
      if (opcode === 0x0) {
        if (this._fragmentOpcode === 0) return this._protocolError('a continuation without a start');
      } else if (opcode === 0x1 || opcode === 0x2) {
        if (this._fragmentOpcode !== 0) return this._protocolError('a new message inside a fragmented one');
        this._fragmentOpcode = opcode;
      } else {
        return this._protocolError(`unknown opcode ${opcode}`);
      }
      this._fragmentsLength += payload.length;
      if (this._fragmentsLength > MAX_MESSAGE) return this._protocolError('a message over 1 MiB', 1009);
      this._fragments.push(Buffer.from(payload));
      if (!fin) continue;
      const message = Buffer.concat(this._fragments);
      const messageOpcode = this._fragmentOpcode;
      this._fragments = [];
      this._fragmentsLength = 0;
      this._fragmentOpcode = 0;
      if (this.readyState !== NetWebSocket.OPEN) continue;
      if (messageOpcode === 0x1) {
        let text;
        try {
          text = textDecoder.decode(message);
        } catch {
          return this._protocolError('invalid UTF-8 in a text message', 1007);
        }
        this.onmessage?.({ type: 'message', data: text });
      } else {
        const data = message.buffer.slice(message.byteOffset, message.byteOffset + message.length);
        this.onmessage?.({ type: 'message', data });
      }
    }
  }

  _control(opcode, payload) {
    if (opcode === 0x9) {
      if (!this._closeSent) this._writeFrame(0xA, payload);
    } else if (opcode === 0x8) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      const reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
      this._closeEvent = { code, reason };
      this._sendClose(code === 1005 ? 1000 : code, '');
      this.readyState = NetWebSocket.CLOSING;
      this._socket.end();
    }
  }

  _protocolError(why, code = 1002) {
    this._error = new Error(why);
    this._sendClose(code, '');
    this.readyState = NetWebSocket.CLOSING;
    this._socket.end();
    setTimeout(() => this._socket.destroy(), 2000).unref();
  }

  _fail(why) {
    this._error = new Error(why);
    this._socket.destroy();
  }

  _finish(code, reason) {
    if (this.readyState === NetWebSocket.CLOSED) return;
    const wasOpen = this.readyState !== NetWebSocket.CONNECTING;
    this.readyState = NetWebSocket.CLOSED;
    if (this._error || !wasOpen) this.onerror?.({ type: 'error', error: this._error });
    const event = this._closeEvent ?? { code, reason };
    this.onclose?.({ type: 'close', code: event.code, reason: event.reason, wasClean: this._closeEvent !== null });
  }
}

/** A NetWebSocket class with fixed options (a CA for wss://, an Origin), to hand to GameRelay. */
export function netWebSocketWith(options) {
  return class extends NetWebSocket {
    constructor(url, protocols) {
      super(url, protocols, options);
    }
  };
}
