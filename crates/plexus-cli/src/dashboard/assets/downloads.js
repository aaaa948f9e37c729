// Plexus dashboard: the Downloads section. Lists the daemon's downloads
// (GET /v1/downloads: every get it runs, whoever started it -- this page,
// `plexus get`, a script -- and the last ones that ended), polled with the
// rest by app.js, each with progress, rate and a throughput graph drawn from
// the polls. The page's own gets start with POST /v1/get.
'use strict';

/** Rate samples per download id, kept while the page is open. */
const rateSamples = new Map();

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

function downloadName(d) {
  if (d.name) return d.name;
  if (d.out) return String(d.out).split('/').pop();
  return `${String(d.hash).slice(0, 16)}…`;
}

function downloadFigures(d) {
  const peers = d.peers === null || d.peers === undefined
    ? '' : ` from ${d.peers} peer${d.peers === 1 ? '' : 's'}`;
  const ended = d.ended_unix_ms || Date.now();
  const secs = Math.max((ended - d.started_unix_ms) / 1000, 0);
  if (d.state === 'failed') return `failed after ${secs.toFixed(1)} s: ${d.error}`;
  if (d.state === 'done') {
    return `100%: ${bytes(d.total)} in ${secs.toFixed(1)} s (${rate(d.rate)})${peers}` +
      (d.out ? `, saved to ${d.out}` : '');
  }
  if (!d.total) return `starting… ${duration(Math.floor(secs))}`;
  const percent = Math.floor((100 * d.done) / d.total);
  return `${percent}% of ${bytes(d.total)}, ${rate(d.rate)}${peers}`;
}

/** A card for download `d`, made once and updated by every poll. */
function downloadCard(d) {
  let card = document.querySelector(`.download[data-id="${d.id}"]`);
  if (!card) {
    const kind = d.kind === 'stored' ? el('span', { class: 'tag' }, 'stored object') : null;
    card = el('div', { class: 'download', 'data-id': d.id, 'data-hash': d.hash },
      el('div', { class: 'name' }, downloadName(d), ' ', kind),
      el('canvas', { class: 'graph', width: 300, height: 60 }),
      el('progress', { max: 1, value: 0 }),
      el('div', { class: 'figures' }));
  }
  card.classList.toggle('done', d.state === 'done');
  card.classList.toggle('failed', d.state === 'failed');
  card.querySelector('progress').value = d.state === 'done' ? 1 : d.total ? d.done / d.total : 0;
  card.querySelector('.figures').textContent = downloadFigures(d);
  card.title = `${d.hash}, started ${new Date(d.started_unix_ms).toLocaleString()}`;
  return card;
}

/** Updates the graph of `d` with this poll's rate (only while it runs). */
function sampleRate(d, card) {
  let samples = rateSamples.get(d.id);
  if (!samples) {
    if (d.state !== 'active') return; // ended before this page saw it run
    samples = [];
    rateSamples.set(d.id, samples);
  }
  const now = performance.now();
  if (d.state === 'active' || !samples.ended) {
    samples.push({ t: now, rate: d.rate });
    while (samples.length && samples[0].t < now - 60000) samples.shift();
    samples.ended = d.state !== 'active';
    drawGraph(card.querySelector('canvas'), samples);
  }
}

function renderDownloads(list) {
  const cards = list.map((d) => {
    const card = downloadCard(d);
    sampleRate(d, card);
    return card;
  });
  $('downloads').replaceChildren(...cards);
  $('no-downloads').hidden = cards.length > 0;
  const active = list.filter((d) => d.state === 'active').length;
  $('download-counts').textContent = list.length ? `${active} running, ${list.length - active} ended` : '';
}

/** Starts a get in the daemon; its card comes from the daemon's list. */
async function startDownload(target) {
  const dir = $('get-dir').value.trim();
  const body = { target, out: null, out_dir: dir || null, force: false, allow_relay: false };
  try {
    const response = await api('POST', '/v1/get', body);
    showError(null);
    poll();
    // The stream ends when the download does; the list has the figures.
    await response.body.pipeTo(new WritableStream());
    poll();
  } catch (e) { showError(e); }
}

document.addEventListener('DOMContentLoaded', () => {
  $('get-form').addEventListener('submit', (e) => {
    e.preventDefault();
    startDownload($('get-target').value.trim());
    $('get-target').value = '';
  });
});
