// Plexus dashboard: the API's NDJSON streams (download progress, search
// hits, topic messages) read as they arrive, and a throughput graph per
// download drawn on a canvas. Uses the helpers of app.js.
'use strict';

/** The objects of an NDJSON answer as they arrive; blank lines are heartbeats. */
async function* ndjson(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line.trim()) yield JSON.parse(line);
    }
  }
}

/** Throughput samples (bytes/s) of the last minute, drawn as a filled line. */
function drawGraph(canvas, samples) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  if (samples.length < 2) return;
  // The last minute, or the whole download when it was shorter.
  const end = samples[samples.length - 1].t;
  const span = Math.min(Math.max(end - samples[0].t, 1), 60000);
  const t0 = end - span;
  const peak = Math.max(...samples.map((s) => s.rate), 1);
  ctx.strokeStyle = '#2563eb';
  ctx.fillStyle = 'rgba(37, 99, 235, 0.15)';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  samples.forEach((s, i) => {
    const x = (Math.max(s.t - t0, 0) / span) * width;
    const y = height - 12 - (s.rate / peak) * (height - 16);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  ctx.lineTo(width, height - 12);
  ctx.lineTo((Math.max(samples[0].t - t0, 0) / span) * width, height - 12);
  ctx.fill();
  ctx.fillStyle = '#6b7480';
  ctx.font = '10px sans-serif';
  const over = span < 1000 ? `${Math.round(span)} ms` : `${(span / 1000).toFixed(1)} s`;
  ctx.fillText(`peak ${rate(peak)} over ${over}`, 4, height - 2);
}

/** Starts a download in the daemon and shows its progress until the end. */
async function startDownload(target, label) {
  $('no-downloads').hidden = true;
  const bar = el('progress', { max: 1, value: 0 });
  const figures = el('div', { class: 'figures' }, 'starting…');
  const canvas = el('canvas', { class: 'graph', width: 300, height: 60 });
  const name = el('div', { class: 'name' }, label);
  const card = el('div', { class: 'download' }, name, canvas, bar, figures);
  $('downloads').prepend(card);
  const samples = [];
  let last = null;
  const started = performance.now();
  const dir = $('get-dir').value.trim();
  const body = { target, out: null, out_dir: dir || null, force: false, allow_relay: false };
  try {
    const response = await api('POST', '/v1/get', body);
    for await (const event of ndjson(response)) {
      const now = performance.now();
      if (event.event === 'progress') {
        if (last && now - last.t >= 250) {
          samples.push({ t: now, rate: ((event.done - last.done) * 1000) / (now - last.t) });
          while (samples.length && samples[0].t < now - 60000) samples.shift();
          last = { t: now, done: event.done };
          drawGraph(canvas, samples);
        } else if (!last) {
          last = { t: now, done: event.done };
        }
        const fraction = event.total ? event.done / event.total : 0;
        bar.value = fraction;
        const speed = samples.length ? samples[samples.length - 1].rate : 0;
        figures.textContent = `${Math.floor(fraction * 100)}% of ${bytes(event.total)}, ` +
          `${rate(speed)} from ${event.peers} peer${event.peers === 1 ? '' : 's'}`;
      } else if (event.event === 'done') {
        // Close the graph with the last stretch (a short download has no other).
        const from = last || { t: started, done: 0 };
        if (now > from.t) samples.push({ t: from.t, rate: ((event.size - from.done) * 1000) / (now - from.t) });
        samples.push({ t: now, rate: samples[samples.length - 1].rate });
        drawGraph(canvas, samples);
        bar.value = 1;
        card.classList.add('done');
        name.textContent = String(event.out).split('/').pop();
        const secs = Math.max(event.secs, (now - started) / 1000);
        figures.textContent = `100%: ${bytes(event.size)} in ${secs.toFixed(1)} s ` +
          `(${rate(event.size / Math.max(secs, 0.001))}), saved to ${event.out}`;
        poll();
      } else if (event.event === 'failed') {
        card.classList.add('failed');
        figures.textContent = `failed: ${event.error}`;
      }
    }
  } catch (e) {
    card.classList.add('failed');
    figures.textContent = `failed: ${e.message}`;
  }
}

async function search(event) {
  event.preventDefault();
  const words = $('search-words').value.split(/\s+/).filter(Boolean);
  const rows = $('hit-rows');
  rows.replaceChildren();
  const seen = new Set();
  $('search-state').textContent = 'searching…';
  try {
    const response = await api('POST', '/v1/search', { words, ttl: 3, timeout_secs: 5 });
    for await (const hit of ndjson(response)) {
      const key = `${hit.hash} ${hit.holder}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rows.append(el('tr', {},
        el('td', {}, hit.name),
        el('td', {}, bytes(hit.size)),
        el('td', {}, hit.tags.join(', ')),
        el('td', { class: 'mono', title: hit.holder }, short(hit.holder)),
        el('td', {}, el('button', { class: 'small', onclick: () => startDownload(hit.ticket, hit.name) }, 'Get'))));
    }
    $('search-state').textContent = `${seen.size} result${seen.size === 1 ? '' : 's'}`;
  } catch (e) {
    $('search-state').textContent = '';
    showError(e);
  }
}

const topics = new Map();

function line(log, who, text, mine) {
  log.append(el('p', { class: mine ? 'me' : '' }, el('span', { class: 'who' }, who), text));
  log.scrollTop = log.scrollHeight;
}

/** Subscribes to a topic: messages stream in until Leave. */
async function subscribe(event) {
  event.preventDefault();
  const topic = $('sub-topic').value.trim();
  if (!topic || topics.has(topic)) return;
  const abort = new AbortController();
  const log = el('div', { class: 'log' });
  const input = el('input', { placeholder: 'message', required: '' });
  const state = el('span', { class: 'muted' });
  const send = async (e) => {
    e.preventDefault();
    const text = input.value;
    try {
      const path = `/v1/pubsub/${encodeURIComponent(topic)}?wait_secs=5`;
      const sent = await (await api('POST', path, text)).json();
      line(log, 'me', text, true);
      state.textContent = `sent to ${sent.peers} peer${sent.peers === 1 ? '' : 's'}`;
      input.value = '';
    } catch (err) { state.textContent = `not sent: ${err.message}`; }
  };
  const leave = () => { abort.abort(); topics.delete(topic); box.remove(); };
  const box = el('div', { class: 'topic', 'data-topic': topic },
    el('strong', {}, topic), ' ',
    el('button', { class: 'small danger', onclick: leave }, 'Leave'),
    log,
    el('form', { class: 'inline', onsubmit: send }, input, el('button', {}, 'Send'), state));
  topics.set(topic, box);
  $('topic-list').prepend(box);
  $('sub-topic').value = '';
  try {
    const response = await fetch(`/v1/pubsub/${encodeURIComponent(topic)}`, { signal: abort.signal });
    if (!response.ok) throw new Error((await response.json()).error);
    state.textContent = 'subscribed';
    for await (const m of ndjson(response)) {
      line(log, m.from_short, m.text !== undefined ? m.text : `(binary) ${m.data_hex}`, false);
    }
    state.textContent = 'the daemon ended the subscription';
  } catch (e) {
    if (!abort.signal.aborted) state.textContent = `subscription failed: ${e.message}`;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('get-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const target = $('get-target').value.trim();
    $('get-target').value = '';
    startDownload(target, target.length > 40 ? `${target.slice(0, 40)}…` : target);
  });
  $('search-form').addEventListener('submit', search);
  $('sub-form').addEventListener('submit', subscribe);
});
