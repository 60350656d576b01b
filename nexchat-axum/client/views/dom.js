// Small DOM helpers shared by the views. Text always goes in through textContent.

const SVG_NS = 'http://www.w3.org/2000/svg';

export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** createElement with properties: className, text, dataset, attributes; children are nodes or text. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'className') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function icon(name, className = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const use = document.createElementNS(SVG_NS, 'use');
  use.setAttribute('href', `assets/icons.svg#${name}`);
  svg.append(use);
  return svg;
}

/** Swaps the icon of an <svg><use></svg> already in the page. */
export function setIcon(svgParent, name) {
  const use = svgParent.querySelector('use');
  if (use) use.setAttribute('href', `assets/icons.svg#${name}`);
}

function hue(name) {
  let h = 0;
  for (const ch of String(name).toLowerCase()) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/** Fills an avatar element with initials and a colour derived from the name. */
export function paintAvatar(el, name) {
  const clean = String(name ?? '').replace(/[^A-Za-z0-9]/g, '');
  el.textContent = (clean.slice(0, 2) || '?').toUpperCase();
  el.style.setProperty('--hue', String(hue(name ?? '')));
}

export function avatar(name, extraClass = '') {
  const el = h('span', { className: `avatar ${extraClass}`.trim(), 'aria-hidden': 'true' });
  paintAvatar(el, name);
  return el;
}

export function typingDots() {
  return h('span', { className: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i'));
}
