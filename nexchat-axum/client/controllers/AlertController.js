// Getting the user's attention: a ringtone while a call rings here, a ringback while our own call
// rings there, and (with permission, while the tab is hidden) a system notification for a message
// or a call: the sender and "New message", the text only if the user turned previews on.

export class AlertController {
  constructor({ prefs, views, chats }) {
    this.prefs = prefs;
    this.views = views;
    this.chats = chats;
    views.settings.bindAlerts((name, on) => this.setPref(name, on));
  }

  /** For the settings dialog: the switches as they are, and whether notifications can be shown. */
  show() {
    this.views.settings.showAlerts(this.prefs.values, this.permission());
  }

  permission() {
    return typeof Notification === 'function' ? Notification.permission : 'unsupported';
  }

  async setPref(name, on) {
    if (name === 'notify' && on && this.permission() === 'default') {
      try { await Notification.requestPermission(); } catch { /* refused or unsupported */ }
    }
    this.prefs.set(name, on && (name !== 'notify' || this.permission() === 'granted'));
    if (name === 'ringtone' && !on && this.views.sound.playing === 'ringtone') this.views.sound.stop();
    if (name === 'ringback' && !on && this.views.sound.playing === 'ringback') this.views.sound.stop();
    this.show();
  }

  /** state: 'incoming' (ringing here), 'outgoing' (ringing there) or anything else (quiet). */
  callState(state) {
    if (state === 'incoming' && this.prefs.get('ringtone')) this.views.sound.start('ringtone');
    else if (state === 'outgoing' && this.prefs.get('ringback')) this.views.sound.start('ringback');
    else this.views.sound.stop();
  }

  incomingCall(from, withVideo) {
    this.notify(from, withVideo ? 'Incoming video call' : 'Incoming voice call', `call-${from}`);
  }

  /** A new message from `from`; `text` is shown only with previews on. */
  message(from, text) {
    this.notify(from, this.prefs.get('previews') && text ? text : 'New message', `message-${from}`);
  }

  notify(title, body, tag) {
    if (!this.prefs.get('notify') || this.views.page.isVisible || this.permission() !== 'granted') return;
    try {
      const n = new Notification(title, { body, tag, icon: 'assets/favicon.svg' });
      n.onclick = () => {
        window.focus();
        this.chats.open(title);
        n.close();
      };
    } catch { /* some browsers allow notifications only from a service worker */ }
  }
}
