// The WebSocket transport: one socket, JSON frames, reconnect with exponential backoff and
// full jitter (so a restarted server is not hit by every client in the same second).
// Every attempt opens with a fresh single-use ticket (`POST /auth/ws-ticket`), so the token never
// appears in a URL, where proxies log it and the console prints it when a connection fails.

const BASE_DELAY_MS = 800;
const MAX_DELAY_MS = 30_000;

export class SocketClient {
  /**
   * getTicket resolves to a ticket string, or to null when the session is over (no retry then:
   * onRefused is called instead).
   * @param {{getTicket: () => Promise<string|null>, onRefused: () => void, onEvent: (ev: object) => void, onOpen: () => void, onStatus: (s: {state: string, retryAt?: number, attempt?: number}) => void, onClose: (code: number) => void}} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.wanted = false;
    this.attempt = 0;
    this.timer = null;
    /** Bumped by connect() and close(), so a ticket that arrives after either is dropped. */
    this.generation = 0;
    this.opening = false;
  }

  static url(ticket) {
    const u = new URL('ws', document.baseURI);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.searchParams.set('ticket', ticket);
    return u.href;
  }

  connect() {
    this.generation += 1;
    this.wanted = true;
    this.attempt = 0;
    this.open();
  }

  async open() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.wanted || this.ws || this.opening) return;
    const generation = this.generation;
    this.opening = true;
    this.handlers.onStatus({ state: 'connecting', attempt: this.attempt });
    let ticket;
    try {
      ticket = await this.handlers.getTicket();
    } catch {
      ticket = undefined;
    } finally {
      this.opening = false;
    }
    if (generation !== this.generation || !this.wanted || this.ws) return;
    if (ticket === null) {
      this.wanted = false;
      this.handlers.onStatus({ state: 'offline' });
      this.handlers.onRefused();
      return;
    }
    if (typeof ticket !== 'string') {
      this.scheduleReconnect();
      return;
    }
    let ws;
    try {
      ws = new WebSocket(SocketClient.url(ticket));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.handlers.onStatus({ state: 'syncing' });
      this.handlers.onOpen();
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws || typeof e.data !== 'string') return;
      let ev;
      try { ev = JSON.parse(e.data); } catch { return; }
      if (ev && typeof ev.type === 'string') this.handlers.onEvent(ev);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.handlers.onClose(e.code);
      if (this.wanted) this.scheduleReconnect();
      else this.handlers.onStatus({ state: 'offline' });
    };
  }

  scheduleReconnect() {
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt += 1;
    this.handlers.onStatus({ state: 'reconnecting', retryAt: Date.now() + delay, attempt: this.attempt });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }

  /** Skips the wait, e.g. when the browser reports that the network is back. */
  reconnectNow() {
    if (this.wanted && !this.ws && !this.opening) this.open();
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  send(event) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(event));
    return true;
  }

  close() {
    this.generation += 1;
    this.wanted = false;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try { ws.close(1000, 'bye'); } catch { /* already closed */ }
    }
    this.handlers.onStatus({ state: 'offline' });
  }
}
