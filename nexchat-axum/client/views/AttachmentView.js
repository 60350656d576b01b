// Attachments on screen: the attach and record buttons of both composers (1:1 and group), the
// files waiting to go with their previews, the recording bar with its live waveform, and in the
// timeline each photo (thumbnail, opened in a dialog), file (name, size, download) and voice note
// (play/pause, waveform to seek, duration), with their upload and download progress. DOM only.
import { $, h, icon } from './dom.js';
import { duration, durationWords, fileSize } from './format.js';
import { kindOf } from '../models/AttachmentModel.js';
import { waveformBars } from '../attachmentCrypto.js';

const VOICE_BARS = 48;

const COMPOSERS = {
  chat: {
    form: 'composer', input: 'composer-input', attach: 'attach-btn', file: 'composer-file', mic: 'mic-btn', tray: 'composer-tray', recorder: 'composer-recorder',
  },
  group: {
    form: 'group-composer', input: 'group-composer-input', attach: 'group-attach-btn', file: 'group-composer-file', mic: 'group-mic-btn', tray: 'group-composer-tray', recorder: 'group-composer-recorder',
  },
};

/** Bars for a waveform: the body's (0–255 each), spread or squeezed to `count`. */
function spread(values, count) {
  if (!values.length) return new Array(count).fill(40);
  const out = [];
  for (let i = 0; i < count; i++) out.push(values[Math.min(values.length - 1, Math.floor((i * values.length) / count))]);
  return out;
}

function progressBar(label) {
  return h('progress', { className: 'att-progress', max: '1', value: '0', 'aria-label': label, hidden: true });
}

export class AttachmentView {
  constructor() {
    this.composers = {};
    for (const [scope, ids] of Object.entries(COMPOSERS)) {
      const c = {};
      for (const [k, id] of Object.entries(ids)) c[k] = $(id);
      c.attach.addEventListener('click', () => c.file.click());
      this.composers[scope] = c;
    }
    this.dialog = $('media-dialog');
    this.dialogTitle = $('media-title');
    this.dialogImg = $('media-img');
    this.dialogLoading = $('media-loading');
    this.dialogProgress = $('media-progress');
    this.dialogStatus = $('media-status');
    this.dialogError = $('media-error');
    this.dialogSave = $('media-save');
    $('media-close').addEventListener('click', () => this.dialog.close());
    $('media-done').addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => {
      this.dialogKey = null;
      this.dialogImg.removeAttribute('src');
    });
    /** The key of the photo the dialog shows. */
    this.dialogKey = null;
    /** key -> {node, att, parts} of every attachment block made, reused when its bubble is drawn again */
    this.blocks = new Map();
    this.handlers = {};
  }

  // --- composers ------------------------------------------------------------------------

  /** Shows the attach button where the server takes attachments, and the record button where the browser can record too. */
  setEnabled(enabled, canRecord) {
    for (const c of Object.values(this.composers)) {
      c.attach.hidden = !enabled;
      c.mic.hidden = !enabled || !canRecord;
      if (!enabled) {
        c.tray.hidden = true;
        c.recorder.hidden = true;
      }
    }
  }

  /** handler(scope, files): files picked, pasted or dropped into a composer. */
  bindPick(handler) {
    for (const [scope, c] of Object.entries(this.composers)) {
      c.file.addEventListener('change', () => {
        const files = [...c.file.files];
        c.file.value = '';
        if (files.length) handler(scope, files);
      });
      c.input.addEventListener('paste', (e) => {
        if (c.attach.hidden) return;
        const files = [...(e.clipboardData?.files ?? [])];
        if (!files.length) return;
        e.preventDefault();
        handler(scope, files);
      });
      c.form.addEventListener('dragover', (e) => {
        if (c.attach.hidden || !e.dataTransfer?.types.includes('Files')) return;
        e.preventDefault();
        c.form.classList.add('dropping');
      });
      c.form.addEventListener('dragleave', () => c.form.classList.remove('dropping'));
      c.form.addEventListener('drop', (e) => {
        c.form.classList.remove('dropping');
        if (c.attach.hidden) return;
        const files = [...(e.dataTransfer?.files ?? [])];
        if (!files.length) return;
        e.preventDefault();
        handler(scope, files);
      });
    }
  }

  /** handlers: {remove(scope, localId), record(scope), stop(scope), cancel(scope)} */
  bindComposer({ remove, record, stop, cancel }) {
    for (const [scope, c] of Object.entries(this.composers)) {
      c.tray.addEventListener('click', (e) => {
        const btn = e.target.closest('button[data-remove]');
        if (btn) remove(scope, btn.dataset.remove);
      });
      c.mic.addEventListener('click', () => (c.mic.dataset.recording === 'true' ? stop(scope) : record(scope)));
      c.recorder.addEventListener('click', (e) => {
        const btn = e.target.closest('button[data-rec]');
        if (!btn) return;
        if (btn.dataset.rec === 'stop') stop(scope);
        else cancel(scope);
      });
    }
  }

  /** The files waiting in a composer: previews (photos), names and sizes, each removable. */
  renderDrafts(scope, drafts, preparing, error = null) {
    const c = this.composers[scope];
    const items = drafts.map((d) => {
      let preview;
      if (d.kind === 'photo') preview = h('img', { className: 'draft-thumb', src: d.previewUrl ?? d.thumbnail, alt: '' });
      else preview = h('span', { className: 'draft-icon' }, icon(d.kind === 'voice' ? 'mic' : 'file'));
      const label = d.kind === 'voice' ? `Voice message, ${duration((d.duration ?? 0) / 1000)}` : d.name;
      return h('li', { className: `draft draft-${d.kind}`, dataset: { draft: d.localId, kind: d.kind } },
        preview,
        h('span', { className: 'draft-text' },
          h('span', { className: 'draft-name', text: label }),
          h('span', { className: 'draft-size', text: fileSize(d.size) })),
        h('button', {
          type: 'button', className: 'icon-btn small draft-remove', dataset: { remove: d.localId }, 'aria-label': `Remove ${label}`, title: 'Remove',
        }, icon('x')));
    });
    if (preparing) {
      items.push(h('li', { className: 'draft draft-preparing', role: 'status' },
        h('span', { className: 'spinner', 'aria-hidden': 'true' }), h('span', { text: preparing === 1 ? 'Preparing a photo…' : `Preparing ${preparing} photos…` })));
    }
    const focused = document.activeElement?.closest?.(`#${c.tray.id} button[data-remove]`);
    c.tray.replaceChildren(h('ul', { className: 'draft-list', 'aria-label': 'To send with your message' }, ...items));
    if (error) c.tray.append(h('p', { className: 'form-error tray-error', role: 'alert', text: error }));
    c.tray.hidden = items.length === 0 && !error;
    c.form.dataset.drafts = String(drafts.length);
    // The removed item's button had the focus: the message field takes it.
    if (focused && !c.tray.contains(document.activeElement)) {
      const next = c.tray.querySelector('button[data-remove]');
      (next ?? c.input).focus();
    }
  }

  hasDrafts(scope) {
    return this.composers[scope].form.dataset.drafts > 0;
  }

  /** The recording bar in place of the files: a live waveform, the time, stop and cancel. */
  showRecording(scope, on) {
    const c = this.composers[scope];
    c.mic.dataset.recording = String(on);
    c.mic.setAttribute('aria-label', on ? 'Stop recording' : 'Record a voice message');
    c.mic.title = on ? 'Stop recording' : 'Record a voice message';
    c.mic.classList.toggle('recording', on);
    c.form.classList.toggle('is-recording', on);
    if (!on) {
      c.recorder.hidden = true;
      c.recorder.replaceChildren();
      c.levels = null;
      return;
    }
    c.levels = [];
    c.canvas = h('canvas', { className: 'rec-wave', width: '480', height: '56', 'aria-hidden': 'true' });
    c.clock = h('span', { className: 'rec-time', text: '0:00' });
    c.recorder.replaceChildren(
      h('span', { className: 'rec-dot', 'aria-hidden': 'true' }),
      h('span', { className: 'visually-hidden', role: 'status', text: 'Recording a voice message' }),
      c.canvas,
      c.clock,
      h('button', { type: 'button', className: 'icon-btn small', dataset: { rec: 'cancel' }, 'aria-label': 'Cancel recording', title: 'Cancel' }, icon('x')),
      h('button', { type: 'button', className: 'btn btn-small btn-primary rec-stop', dataset: { rec: 'stop' }, 'aria-label': 'Stop recording and keep the voice message' }, icon('stop'), 'Done'),
    );
    c.recorder.hidden = false;
  }

  /** One more loudness sample (0–1) of the recording: the live waveform scrolls, the clock runs. */
  recordingLevel(scope, level, elapsed) {
    const c = this.composers[scope];
    if (!c.levels || !c.canvas) return;
    c.levels.push(level);
    const canvas = c.canvas;
    const ctx = canvas.getContext('2d');
    const bar = 6;
    const count = Math.floor(canvas.width / bar);
    if (c.levels.length > count) c.levels.splice(0, c.levels.length - count);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = getComputedStyle(canvas).color || '#e8663d';
    c.levels.forEach((v, i) => {
      const bh = Math.max(3, v * (canvas.height - 4));
      ctx.fillRect(i * bar, (canvas.height - bh) / 2, bar - 2, bh);
    });
    c.clock.textContent = duration(elapsed / 1000);
  }

  // --- the timeline ---------------------------------------------------------------------

  /** handlers: {open(key, att), save(key, att), play(key, att)} */
  bindBlocks(handlers) {
    this.handlers = handlers;
  }

  /**
   * The nodes of a message's attachments, made once per attachment and kept, so drawing the bubble
   * again (a tick, a status) neither restarts a voice note nor loses a progress bar. `local`:
   * att -> object URL of the file as this tab has it (its own photos show sharp).
   */
  nodes(messageId, attachments, { outgoing, localUrl, transfer }) {
    return attachments.map((att, i) => {
      const key = `${messageId}:${i}`;
      let block = this.blocks.get(key);
      // Our own attachment keeps its block when its upload gives it an id.
      const sig = `${att.localId ?? att.id}|${att.name}|${att.size}`;
      if (!block || block.sig !== sig) {
        block = this.makeBlock(key, att, outgoing, localUrl(att));
        block.sig = sig;
        this.blocks.set(key, block);
      }
      block.att = att;
      this.showTransfer(key, transfer(key));
      return block.node;
    });
  }

  /** Drops the blocks no longer on the page (another conversation is open). */
  prune() {
    for (const [key, block] of this.blocks) {
      if (!block.node.isConnected) {
        block.parts.audio?.pause();
        this.blocks.delete(key);
      }
    }
  }

  makeBlock(key, att, outgoing, localUrl) {
    const kind = kindOf(att);
    const parts = {};
    const sizeText = fileSize(att.size);
    let node;
    if (kind === 'photo') {
      const img = h('img', {
        className: 'att-img', alt: '', src: localUrl ?? att.thumbnail ?? null, width: att.width ?? null, height: att.height ?? null,
      });
      if (!localUrl && !att.thumbnail) img.hidden = true;
      parts.img = img;
      const open = h('button', {
        type: 'button', className: 'att-thumb', 'aria-label': `Open photo ${att.name}, ${sizeText}`, title: att.name,
      }, img, !localUrl && !att.thumbnail ? h('span', { className: 'att-placeholder' }, icon('image'), h('span', { text: 'Photo' })) : null);
      if (att.width && att.height) {
        open.style.setProperty('--ratio', `${att.width} / ${att.height}`);
        open.style.setProperty('--w', `${att.width}px`);
      }
      open.addEventListener('click', () => this.handlers.open?.(key, this.blocks.get(key)?.att ?? att));
      node = h('div', { className: 'att att-photo', dataset: { attKey: key, kind } }, open);
    } else if (kind === 'voice') {
      node = this.voiceBlock(key, att, parts);
    } else {
      const save = h('button', {
        type: 'button', className: 'icon-btn small att-save', 'aria-label': `Download ${att.name}, ${sizeText}`, title: 'Download',
      }, icon('download'));
      save.addEventListener('click', () => this.handlers.save?.(key, this.blocks.get(key)?.att ?? att));
      node = h('div', { className: 'att att-file', dataset: { attKey: key, kind } },
        h('span', { className: 'att-icon', 'aria-hidden': 'true' }, icon('file')),
        h('span', { className: 'att-info' },
          h('span', { className: 'att-name', text: att.name, title: att.name }),
          h('span', { className: 'att-size', text: sizeText })),
        save);
    }
    parts.progress = progressBar(outgoing ? `Uploading ${att.name}` : `Downloading ${att.name}`);
    parts.error = h('p', { className: 'att-error', role: 'alert', hidden: true });
    node.append(parts.progress, parts.error);
    void outgoing;
    return { node, parts, att };
  }

  voiceBlock(key, att, parts) {
    const total = (att.duration ?? 0) / 1000;
    const play = h('button', { type: 'button', className: 'att-play', 'aria-label': 'Play voice message' }, icon('play'));
    const bars = spread(waveformBars(att.waveform), VOICE_BARS).map((v) => {
      const bar = h('span', { className: 'bar' });
      bar.style.setProperty('--h', String(Math.max(0.08, v / 255)));
      return bar;
    });
    const wave = h('div', {
      className: 'att-wave',
      role: 'slider',
      tabindex: '0',
      'aria-label': 'Position in the voice message',
      'aria-valuemin': '0',
      'aria-valuemax': String(Math.round(total)),
      'aria-valuenow': '0',
      'aria-valuetext': `0 seconds of ${durationWords(total)}`,
    }, ...bars);
    const time = h('span', { className: 'att-time', text: duration(total) });
    const audio = h('audio', { preload: 'none', hidden: true });
    Object.assign(parts, {
      play, wave, bars, time, audio, total,
    });
    play.addEventListener('click', () => {
      if (audio.src && !audio.paused) audio.pause();
      else this.handlers.play?.(key, this.blocks.get(key)?.att ?? att, null);
    });
    const seekTo = (fraction) => {
      const f = Math.max(0, Math.min(1, fraction));
      if (audio.src && parts.ready) {
        audio.currentTime = f * this.lengthOf(parts);
        this.paintVoice(parts);
      } else {
        this.handlers.play?.(key, this.blocks.get(key)?.att ?? att, f);
      }
    };
    wave.addEventListener('click', (e) => {
      const box = wave.getBoundingClientRect();
      seekTo((e.clientX - box.left) / box.width);
    });
    wave.addEventListener('keydown', (e) => {
      const len = this.lengthOf(parts) || 1;
      const now = parts.ready ? audio.currentTime / len : 0;
      const step = Math.min(0.25, 5 / len);
      const to = {
        ArrowRight: now + step, ArrowUp: now + step, ArrowLeft: now - step, ArrowDown: now - step, Home: 0, End: 0.999, PageUp: now + 0.25, PageDown: now - 0.25,
      }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      seekTo(to);
    });
    for (const ev of ['play', 'pause', 'ended', 'timeupdate', 'durationchange']) audio.addEventListener(ev, () => this.paintVoice(parts));
    audio.addEventListener('ended', () => {
      audio.currentTime = 0;
      this.paintVoice(parts);
    });
    return h('div', {
      className: 'att att-voice', role: 'group', 'aria-label': `Voice message, ${durationWords(total)}`, dataset: { attKey: key, kind: 'voice' },
    }, play, wave, time, audio);
  }

  /** The length of a voice note in seconds: the audio's own once it knows it, else the body's. */
  lengthOf(parts) {
    const d = parts.audio.duration;
    return Number.isFinite(d) && d > 0 ? d : parts.total;
  }

  paintVoice(parts) {
    const { audio, play, wave, bars, time } = parts;
    const playing = !!audio.src && !audio.paused && !audio.ended;
    play.replaceChildren(icon(playing ? 'pause' : 'play'));
    play.setAttribute('aria-label', playing ? 'Pause voice message' : 'Play voice message');
    const len = this.lengthOf(parts);
    const at = parts.ready ? Math.min(audio.currentTime, len) : 0;
    const played = len ? at / len : 0;
    const upTo = Math.round(played * bars.length);
    bars.forEach((b, i) => b.classList.toggle('played', i < upTo));
    wave.setAttribute('aria-valuemax', String(Math.round(len)));
    wave.setAttribute('aria-valuenow', String(Math.round(at)));
    wave.setAttribute('aria-valuetext', `${durationWords(at)} of ${durationWords(len)}`);
    time.textContent = playing || at > 0 ? `${duration(at)} / ${duration(len)}` : duration(len);
    wave.closest('.att-voice')?.classList.toggle('playing', playing);
  }

  /**
   * Plays a voice note from its decrypted object URL, from `from` (0–1) when given. The first time,
   * its length is found first: MediaRecorder's WebM says none, so the audio seeks to its end once.
   */
  async playVoice(key, url, from = null) {
    const block = this.blocks.get(key);
    if (!block) return;
    const { parts } = block;
    const { audio } = parts;
    for (const other of this.blocks.values()) if (other !== block && other.parts.audio && !other.parts.audio.paused) other.parts.audio.pause();
    if (!parts.ready) {
      if (audio.getAttribute('src') !== url) audio.src = url;
      audio.preload = 'auto';
      await knowLength(audio);
      parts.ready = true;
    }
    if (from != null) audio.currentTime = from * this.lengthOf(parts);
    this.paintVoice(parts);
    await audio.play();
  }

  /** Shows a transfer's progress (fraction 0–1) or its error on the attachment, and in the dialog. */
  showTransfer(key, t) {
    const block = this.blocks.get(key);
    if (block) {
      const { progress, error } = block.parts;
      const busy = !!t && !t.error && t.fraction != null && t.fraction < 1;
      progress.hidden = !busy;
      if (busy) {
        progress.value = t.fraction;
        progress.setAttribute('aria-label', `${t.direction === 'up' ? 'Uploading' : 'Downloading'} ${block.att.name}`);
      }
      error.hidden = !t?.error;
      error.textContent = t?.error ?? '';
      block.node.dataset.transfer = t ? (t.error ? 'error' : busy ? t.direction : 'done') : '';
    }
    if (this.dialogKey === key && this.dialog.open) {
      const busy = !!t && !t.error && t.fraction != null && t.fraction < 1 && t.direction === 'down';
      if (busy) {
        this.dialogProgress.value = t.fraction;
        this.dialogStatus.textContent = `Downloading and decrypting… ${Math.round(t.fraction * 100)} %`;
      }
      this.dialogError.hidden = !t?.error;
      this.dialogError.textContent = t?.error ?? '';
      if (t?.error) this.dialogLoading.hidden = true;
    }
  }

  /** The photo's own picture in place of its thumbnail, once this tab has it. */
  showPhotoFile(key, url) {
    const img = this.blocks.get(key)?.parts.img;
    if (img && url && img.getAttribute('src') !== url) {
      img.src = url;
      img.hidden = false;
      img.parentElement?.querySelector('.att-placeholder')?.remove();
    }
  }

  // --- the photo dialog -----------------------------------------------------------------

  /** handler(key): the dialog's download button. */
  bindDialogSave(handler) {
    this.dialogSave.addEventListener('click', () => this.dialogKey && handler(this.dialogKey));
  }

  /** Opens the dialog on a photo: its thumbnail, blurred, until the decrypted picture is here. */
  openPhoto(key, att) {
    this.dialogKey = key;
    this.dialogTitle.textContent = att.name;
    this.dialogImg.alt = `Photo: ${att.name}`;
    if (att.width && att.height) {
      this.dialogImg.width = att.width;
      this.dialogImg.height = att.height;
    } else {
      this.dialogImg.removeAttribute('width');
      this.dialogImg.removeAttribute('height');
    }
    if (att.thumbnail) {
      this.dialogImg.src = att.thumbnail;
      this.dialogImg.hidden = false;
    } else {
      this.dialogImg.removeAttribute('src');
      this.dialogImg.hidden = true;
    }
    this.dialogImg.classList.add('preview');
    this.dialog.dataset.state = 'loading';
    this.dialogLoading.hidden = false;
    this.dialogProgress.removeAttribute('value');
    this.dialogStatus.textContent = 'Downloading and decrypting…';
    this.dialogError.hidden = true;
    this.dialogSave.setAttribute('aria-label', `Download ${att.name}, ${fileSize(att.size)}`);
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** The decrypted photo, in the dialog if it still shows that photo. */
  photoReady(key, url) {
    if (this.dialogKey !== key || !this.dialog.open) return;
    this.dialogImg.src = url;
    this.dialogImg.hidden = false;
    this.dialogImg.classList.remove('preview');
    this.dialogLoading.hidden = true;
    this.dialog.dataset.state = 'ready';
  }

  photoFailed(key, text) {
    if (this.dialogKey !== key || !this.dialog.open) return;
    this.dialogLoading.hidden = true;
    this.dialogError.hidden = false;
    this.dialogError.textContent = text;
    this.dialog.dataset.state = 'error';
  }

  /** Saves a file this tab has: an `<a download>` on its object URL, clicked. */
  saveFile(url, name) {
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  }
}

/**
 * Resolves once `audio` knows its length. A WebM that MediaRecorder wrote has none in its header
 * (Chromium reports Infinity): seeking far past the end makes the browser find it.
 */
function knowLength(audio) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, 5000);
    function done() {
      clearTimeout(timer);
      audio.removeEventListener('loadedmetadata', onMeta);
      audio.removeEventListener('durationchange', onDuration);
      audio.removeEventListener('error', done);
      resolve();
    }
    function onDuration() {
      if (Number.isFinite(audio.duration)) {
        audio.currentTime = 0;
        done();
      }
    }
    function onMeta() {
      if (Number.isFinite(audio.duration)) done();
      else {
        audio.addEventListener('durationchange', onDuration);
        audio.currentTime = 1e9;
      }
    }
    if (audio.readyState >= 1) onMeta();
    else {
      audio.addEventListener('loadedmetadata', onMeta);
      audio.addEventListener('error', done);
      audio.load();
    }
  });
}
