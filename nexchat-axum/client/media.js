// What the browser does to a file before it is encrypted and sent: photos decoded and drawn
// again on a canvas (so their EXIF metadata, location and camera, never leaves the browser) with
// a small JPEG thumbnail for the message body; voice notes recorded from the microphone with
// MediaRecorder, their loudness measured by an AnalyserNode for the live and the sent waveform.
import { MAX_THUMBNAIL, cleanName, encodeWaveform } from './attachmentCrypto.js';

/** Image types taken as photos (decoded and re-encoded); any other file is sent as it is. */
const PHOTO_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/avif', 'image/bmp']);
/** The longest edge of a photo as sent. */
const MAX_EDGE = 4096;
/** Bars in a voice note's waveform. */
export const WAVEFORM_BARS = 48;
/** A voice note stops by itself after this long. */
export const MAX_VOICE_MS = 10 * 60 * 1000;

export function isPhotoType(type) {
  return PHOTO_TYPES.has(String(type).toLowerCase());
}

function toBlob(canvas, type, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the picture could not be encoded'))), type, quality);
  });
}

function canvasOf(width, height) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/** Draws `source` on a new canvas of the given size; `opaque` paints white behind (for JPEG). */
function draw(source, width, height, opaque) {
  const canvas = canvasOf(width, height);
  const ctx = canvas.getContext('2d');
  if (opaque) {
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, width, height);
  }
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(source, 0, 0, width, height);
  return canvas;
}

function fit(width, height, edge) {
  const scale = Math.min(1, edge / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

/** A JPEG data URL of at most MAX_THUMBNAIL characters, smaller and rougher until it fits. */
export function thumbnailOf(source, width, height) {
  for (const edge of [160, 128, 96, 64, 40]) {
    const [w, h] = fit(width, height, edge);
    const canvas = draw(source, w, h, true);
    for (const quality of [0.72, 0.55, 0.4, 0.28]) {
      const url = canvas.toDataURL('image/jpeg', quality);
      if (url.startsWith('data:image/jpeg;base64,') && url.length <= MAX_THUMBNAIL) return url;
    }
  }
  return null;
}

function renamed(name, type) {
  const ext = type === 'image/png' ? 'png' : 'jpg';
  const base = cleanName(name, 'photo').replace(/\.[A-Za-z0-9]{1,5}$/, '');
  return `${base}.${ext}`;
}

/**
 * A photo as it is sent: decoded (turned upright by its EXIF orientation), drawn on a canvas and
 * encoded again, PNG for a PNG (it may be transparent), else JPEG; so nothing of the original file
 * but its pixels is left. Resolves to {blob, type, name, width, height, thumbnail}. `maxBytes`:
 * a PNG larger than that is sent as JPEG instead.
 */
export async function preparePhoto(file, { maxBytes = Infinity } = {}) {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  try {
    const [width, height] = fit(bitmap.width, bitmap.height, MAX_EDGE);
    const png = String(file.type).toLowerCase() === 'image/png';
    let type = png ? 'image/png' : 'image/jpeg';
    const canvas = draw(bitmap, width, height, !png);
    let blob = await toBlob(canvas, type, 0.9);
    if (png && blob.size > maxBytes) {
      type = 'image/jpeg';
      blob = await toBlob(draw(bitmap, width, height, true), type, 0.9);
    }
    return {
      blob, type, name: renamed(file.name, type), width, height, thumbnail: thumbnailOf(canvas, width, height),
    };
  } finally {
    bitmap.close();
  }
}

/** The audio formats MediaRecorder is asked for, best first. */
const VOICE_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4', 'audio/webm'];

/**
 * One voice note being recorded: the microphone, a MediaRecorder, and an AnalyserNode sampled
 * every 50 ms for the live waveform (onLevel(level 0–1, elapsed ms)) and the one that is sent.
 */
export class VoiceRecorder {
  static supported() {
    return !!(globalThis.MediaRecorder && navigator.mediaDevices?.getUserMedia && (globalThis.AudioContext || globalThis.webkitAudioContext));
  }

  /** Asks for the microphone and starts recording. */
  async start({ onLevel, onLimit } = {}) {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    const Ctx = globalThis.AudioContext || globalThis.webkitAudioContext;
    this.ctx = new Ctx();
    const source = this.ctx.createMediaStreamSource(this.stream);
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 1024;
    source.connect(this.analyser);
    const mimeType = VOICE_TYPES.find((t) => MediaRecorder.isTypeSupported?.(t));
    this.recorder = new MediaRecorder(this.stream, mimeType ? { mimeType, audioBitsPerSecond: 32_000 } : {});
    this.parts = [];
    this.recorder.ondataavailable = (e) => {
      if (e.data?.size) this.parts.push(e.data);
    };
    this.levels = [];
    const samples = new Uint8Array(this.analyser.fftSize);
    this.started = performance.now();
    this.recorder.start(250);
    this.timer = setInterval(() => {
      this.analyser.getByteTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += ((v - 128) / 128) ** 2;
      const level = Math.min(1, Math.sqrt(sum / samples.length) * 3);
      this.levels.push(level);
      const elapsed = performance.now() - this.started;
      onLevel?.(level, elapsed);
      if (elapsed >= MAX_VOICE_MS) onLimit?.();
    }, 50);
  }

  /** Stops and resolves to {blob, type, name, duration (ms), waveform (base64)}. */
  stop() {
    const duration = Math.round(performance.now() - this.started);
    return new Promise((resolve, reject) => {
      const rec = this.recorder;
      rec.onstop = () => {
        const type = (rec.mimeType || this.parts[0]?.type || 'audio/webm').split(';')[0];
        const blob = new Blob(this.parts, { type });
        this.release();
        if (!blob.size) {
          reject(new Error('nothing was recorded'));
          return;
        }
        const ext = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
        const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, '-');
        resolve({
          blob, type, name: `voice-${stamp}.${ext}`, duration, waveform: encodeWaveform(bars(this.levels, WAVEFORM_BARS)),
        });
      };
      rec.onerror = (e) => {
        this.release();
        reject(e.error ?? new Error('recording failed'));
      };
      clearInterval(this.timer);
      if (rec.state === 'inactive') rec.onstop();
      else rec.stop();
    });
  }

  cancel() {
    if (this.recorder && this.recorder.state !== 'inactive') {
      this.recorder.onstop = null;
      this.recorder.stop();
    }
    this.release();
  }

  release() {
    clearInterval(this.timer);
    this.stream?.getTracks().forEach((t) => t.stop());
    this.ctx?.close().catch(() => {});
    this.stream = null;
    this.ctx = null;
  }
}

/** `count` bars from the sampled levels (0–1): the loudest sample of each stretch, scaled to 0–255 by the loudest. */
export function bars(levels, count) {
  if (!levels.length) return new Array(count).fill(0);
  const out = [];
  for (let i = 0; i < count; i++) {
    const from = Math.floor((i * levels.length) / count);
    const to = Math.max(from + 1, Math.floor(((i + 1) * levels.length) / count));
    let peak = 0;
    for (let j = from; j < to && j < levels.length; j++) peak = Math.max(peak, levels[j]);
    out.push(peak);
  }
  const top = Math.max(...out, 0.05);
  return out.map((v) => Math.round((Math.sqrt(v / top)) * 255));
}
