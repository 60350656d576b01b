// Our own typing reports, for 1:1 chats and groups alike: `true` when typing starts in a
// conversation (again every 4 s while it goes on, so a report that got lost is made good), and
// `false` 2.5 s after the last keystroke, when the text is emptied or sent, or before reporting
// to another conversation.

const IDLE_MS = 2_500;
const REFRESH_MS = 4_000;

export class TypingReport {
  /** `send(to, isTyping)` sends one report and says whether the socket took it. */
  constructor(send) {
    this.send = send;
    /** The conversation we last said we are typing in. */
    this.to = null;
    this.sentAt = 0;
    this.idle = null;
  }

  /** The composer of conversation `to` changed; `hasText`: whether it holds text now. */
  input(to, hasText) {
    if (!hasText) {
      this.stop();
      return;
    }
    const now = Date.now();
    if (this.to !== to || now - this.sentAt > REFRESH_MS) {
      if (this.to && this.to !== to) this.stop();
      if (this.send(to, true)) {
        this.to = to;
        this.sentAt = now;
      }
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), IDLE_MS);
  }

  /** Says typing stopped, if we had said it started. */
  stop() {
    clearTimeout(this.idle);
    this.idle = null;
    const to = this.to;
    if (!to) return;
    this.to = null;
    this.sentAt = 0;
    this.send(to, false);
  }

  /** The socket closed or the user signed out: nothing is said, the next keystroke starts afresh. */
  forget() {
    clearTimeout(this.idle);
    this.idle = null;
    this.to = null;
    this.sentAt = 0;
  }
}
