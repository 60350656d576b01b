// Modal dialogs: the safety number (digits, a QR code, the verified mark) and confirmations. DOM only.
import qrcode from '../vendor/qrcode-generator/qrcode.mjs';
import { $ } from './dom.js';

const QR_CELL = 5;
const QR_MARGIN = 4;

export class DialogView {
  constructor() {
    this.safety = $('safety-dialog');
    this.safetyIntro = $('safety-intro');
    this.safetyDigits = $('safety-digits');
    this.safetyQr = $('safety-qr');
    this.safetyState = $('safety-state');
    this.safetyVerify = $('safety-verify');
    this.confirmDialog = $('confirm-dialog');
    this.confirmTitle = $('confirm-title');
    this.confirmBody = $('confirm-body');
    this.confirmOk = $('confirm-ok');
  }

  /** handler() when the user marks the safety number verified, or takes the mark away. */
  bindVerify(handler) {
    this.safetyVerify.addEventListener('click', () => handler());
  }

  /** state: 'verified' | 'changed' | 'none' (see TrustModel). */
  showTrust(peer, state) {
    this.safetyVerify.textContent = state === 'verified' ? 'Remove the verified mark' : 'Mark as verified';
    this.safetyState.dataset.state = state;
    this.safetyState.textContent = {
      verified: `You verified ${peer}'s key.`,
      changed: `${peer}'s key changed since you verified it. Compare again before you trust it.`,
      none: `Not verified yet.`,
    }[state];
  }

  /** The QR code of `text`, drawn module by module (a reader needs the dark-on-light quiet zone). */
  drawQr(text) {
    const qr = qrcode(0, 'M');
    qr.addData(text);
    qr.make();
    const n = qr.getModuleCount();
    const size = (n + QR_MARGIN * 2) * QR_CELL;
    const canvas = this.safetyQr;
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, size, size);
    ctx.fillStyle = '#000000';
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) {
        if (qr.isDark(r, c)) ctx.fillRect((c + QR_MARGIN) * QR_CELL, (r + QR_MARGIN) * QR_CELL, QR_CELL, QR_CELL);
      }
    }
    canvas.dataset.text = text;
  }

  showSafetyNumber(peer, groups, state) {
    this.safetyIntro.textContent = `Your safety number with ${peer}:`;
    this.drawQr(`nexchat-safety-number:${groups.join('')}`);
    this.showTrust(peer, state);
    this.safetyDigits.replaceChildren();
    for (const g of groups) {
      const span = document.createElement('span');
      span.textContent = g;
      this.safetyDigits.append(span);
    }
    this.safetyDigits.setAttribute('aria-label', groups.join(' '));
    if (!this.safety.open) this.safety.showModal();
  }

  /** Resolves true when the user confirms. */
  confirm(title, body, okLabel) {
    this.confirmTitle.textContent = title;
    this.confirmBody.textContent = body;
    this.confirmOk.textContent = okLabel;
    this.confirmDialog.returnValue = '';
    return new Promise((resolve) => {
      this.confirmDialog.addEventListener('close', () => resolve(this.confirmDialog.returnValue === 'ok'), { once: true });
      this.confirmDialog.showModal();
    });
  }
}
