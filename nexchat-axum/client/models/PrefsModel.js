// What this device should do to get the user's attention: ring, ring back, notify, and whether a
// notification may show the message text. Kept per device in localStorage.

const KEY = 'nexchat-alerts';
const DEFAULTS = {
  /** A ringtone for incoming calls. */
  ringtone: true,
  /** The ringback tone while an outgoing call rings. */
  ringback: true,
  /** A system notification for a message or call while the tab is hidden (needs permission). */
  notify: false,
  /** The message text in those notifications (off: only the sender and "New message"). */
  previews: false,
};

export class PrefsModel {
  constructor() {
    this.values = { ...DEFAULTS };
    try {
      const saved = JSON.parse(localStorage.getItem(KEY) ?? '{}');
      for (const k of Object.keys(DEFAULTS)) if (typeof saved?.[k] === 'boolean') this.values[k] = saved[k];
    } catch { /* nothing saved, or storage blocked: the defaults */ }
  }

  get(name) {
    return this.values[name];
  }

  set(name, on) {
    if (!(name in DEFAULTS)) return;
    this.values[name] = !!on;
    try { localStorage.setItem(KEY, JSON.stringify(this.values)); } catch { /* this page only */ }
  }
}
