// The progress shown while Argon2id derives the keys (a second or a few, longer on slow phones):
// an indeterminate bar, what is happening, and the seconds so far, so the wait never looks stuck.
export class KdfProgress {
  /** @param {HTMLElement} box holds a <progress>; @param {HTMLElement} text */
  constructor(box, text) {
    this.box = box;
    this.text = text;
    this.timer = null;
  }

  start(label = 'Argon2id is turning your password into keys…') {
    this.stop();
    const started = Date.now();
    const paint = () => {
      const s = Math.floor((Date.now() - started) / 1000);
      this.text.textContent = s > 0 ? `${label} ${s} s` : label;
    };
    paint();
    this.box.hidden = false;
    this.timer = setInterval(paint, 1000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.box.hidden = true;
    this.text.textContent = '';
  }
}
