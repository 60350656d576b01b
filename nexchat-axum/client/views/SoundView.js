// Ringtone and ringback, made with WebAudio so the page needs no sound files. The tone playing is
// named on <html data-sound="ringtone|ringback"> for the tests and for styles. DOM and audio only.

const TONES = {
  // Two rising chirps every 2.4 s.
  ringtone: { bursts: [[0, 0.35, [660, 880]], [0.45, 0.35, [660, 880]]], period: 2400 },
  // The familiar 440 + 480 Hz: 2 s on, 4 s off.
  ringback: { bursts: [[0, 2, [440, 480]]], period: 6000 },
};
const VOLUME = 0.08;

export class SoundView {
  constructor() {
    /** @type {AudioContext|null} */ this.ctx = null;
    this.timer = null;
    this.playing = null;
  }

  /** kind: 'ringtone' | 'ringback'; repeats until stop(). */
  start(kind) {
    const tone = TONES[kind];
    if (!tone || this.playing === kind) return;
    this.stop();
    this.playing = kind;
    document.documentElement.dataset.sound = kind;
    const play = () => this.play(tone);
    play();
    this.timer = setInterval(play, tone.period);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.playing = null;
    delete document.documentElement.dataset.sound;
  }

  play(tone) {
    let ctx;
    try {
      this.ctx ??= new AudioContext();
      ctx = this.ctx;
      // Browsers start audio only after the user has interacted with the page; until then this
      // stays silent rather than failing.
      if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    } catch {
      return;
    }
    const now = ctx.currentTime;
    for (const [at, length, freqs] of tone.bursts) {
      const gain = ctx.createGain();
      const t = now + at;
      gain.gain.setValueAtTime(0, t);
      gain.gain.linearRampToValueAtTime(VOLUME, t + 0.03);
      gain.gain.setValueAtTime(VOLUME, t + length - 0.05);
      gain.gain.linearRampToValueAtTime(0, t + length);
      gain.connect(ctx.destination);
      for (const f of freqs) {
        const osc = ctx.createOscillator();
        osc.frequency.value = f;
        osc.connect(gain);
        osc.start(t);
        osc.stop(t + length);
      }
    }
  }
}
