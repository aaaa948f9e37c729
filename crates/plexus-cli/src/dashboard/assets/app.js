// Plexus dashboard: the node, its peers, its store and its downloads, polled
// every second from the daemon's API (those answers are snapshots; the live
// streams are in live.js, the Downloads section in downloads.js). Every text from the network goes in through textContent.
'use strict';

const $ = (id) => document.getElementById(id);

/** A DOM element with attributes and children (strings become text). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

/** Calls the API; the cookie goes along by itself. Throws the daemon's message. */
async function api(method, path, body) {
  const options = { method, headers: {} };
  if (typeof body === 'string') {
    options.body = body;
  } else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    if (response.status === 401) message += ' (open the dashboard again with `plexus open`)';
    throw new Error(message);
  }
  return response;
}

const getJson = async (path) => (await api('GET', path)).json();

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

const rate = (perSec) => `${bytes(perSec)}/s`;

function duration(secs) {
  const d = Math.floor(secs / 86400), h = Math.floor(secs / 3600) % 24;
  const m = Math.floor(secs / 60) % 60, s = secs % 60;
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m ${s}s` : m ? `${m}m ${s}s` : `${s}s`;
}

const short = (id) => `…${String(id).slice(-8)}`;

function showError(e) {
  const box = $('error');
  box.textContent = e ? String(e.message || e) : '';
  box.hidden = !e;
}

function fill(list, items, render) {
  list.replaceChildren(...items.map(render));
}

/** Transport of a connection's remote address. */
function transport(addr) {
  const text = String(addr);
  for (const name of ['quic-v1', 'webrtc', 'webtransport', 'wss', 'ws', 'tcp']) {
    if (text.includes(`/${name}`)) return name === 'quic-v1' ? 'QUIC' : name.toUpperCase();
  }
  return '?';
}

let lastTraffic = null;

function renderStatus(status) {
  $('peer-id').textContent = status.peer_id;
  $('uptime').textContent = duration(status.uptime_secs);
  $('reach').textContent = status.nat ? status.nat.reachability : 'unknown';
  fill($('addrs'), status.listen_addrs, (a) => el('li', {}, a));
  fill($('ext-addrs'), (status.nat && status.nat.external_addrs) || [], (a) => el('li', {}, a));
  const now = performance.now();
  let speeds = '';
  if (lastTraffic) {
    const secs = (now - lastTraffic.at) / 1000;
    const up = (status.blob_bytes_sent - lastTraffic.sent) / secs;
    const down = (status.blob_bytes_received - lastTraffic.received) / secs;
    speeds = ` (now ↑ ${rate(Math.max(up, 0))}, ↓ ${rate(Math.max(down, 0))})`;
  }
  lastTraffic = { at: now, sent: status.blob_bytes_sent, received: status.blob_bytes_received };
  $('traffic').textContent =
    `sent ${bytes(status.blob_bytes_sent)}, received ${bytes(status.blob_bytes_received)}${speeds}`;
  $('peer-counts').textContent =
    `${status.connected_peers} connected, ${status.routing_table_peers} in the DHT routing table, ` +
    `${status.search_neighbours} search neighbours`;
  drawBuckets($('bucket-chart'), status.routing_buckets || []);
}

/** A bar per k-bucket from the nearest non-empty one to the farthest (255). */
function drawBuckets(canvas, buckets) {
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = '#6b7480';
  ctx.font = '10px sans-serif';
  if (!buckets.length) {
    ctx.fillText('empty: no peers in the routing table yet', 6, height / 2);
    return;
  }
  const first = Math.min(...buckets.map((b) => b.bucket), 250);
  const slot = width / (256 - first);
  for (const b of buckets) {
    const h = (Math.min(b.peers, 20) / 20) * (height - 24);
    ctx.fillStyle = '#2563eb';
    ctx.fillRect((b.bucket - first) * slot + 1, height - 14 - h, Math.max(slot - 2, 1), h);
    ctx.fillStyle = '#1d232a';
    ctx.fillText(String(b.peers), (b.bucket - first) * slot + 2, height - 16 - h);
  }
  ctx.fillStyle = '#6b7480';
  ctx.fillText(`bucket ${first}`, 2, height - 2);
  ctx.fillText('255', width - 18, height - 2);
}

function renderPeers(peers) {
  const connected = peers.filter((p) => p.connected);
  fill($('peer-rows'), connected, (p) => {
    const conns = p.connections || [];
    const relayed = conns.length > 0 && conns.every((c) => String(c).includes('/p2p-circuit'));
    return el('tr', {},
      el('td', { class: 'mono', title: p.peer_id }, p.peer_id),
      el('td', {}, relayed ? 'relayed' : 'direct'),
      el('td', {}, [...new Set(conns.map(transport))].join(', ') || '?'),
      el('td', {}, p.rtt_ms === null || p.rtt_ms === undefined ? '–' : `${p.rtt_ms.toFixed(1)} ms`),
      el('td', {}, p.agent || ''));
  });
}

function renderBlobs(blobs) {
  const named = blobs.filter((b) => b.share);
  fill($('blob-rows'), named, (b) => el('tr', { 'data-hash': b.hash },
    el('td', {}, b.share.name),
    el('td', { class: 'mono', title: b.hash }, String(b.hash).slice(0, 16)),
    el('td', {}, bytes(b.size)),
    el('td', {}, b.complete ? '100%' : `${Math.floor((100 * b.present_bytes) / Math.max(b.size, 1))}%`),
    el('td', {}, el('button', { class: 'small danger', onclick: () => removeBlob(b) }, 'Remove'))));
}

async function removeBlob(blob) {
  if (!window.confirm(`Remove ${blob.share.name} from this node's store?`)) return;
  try {
    await api('DELETE', `/v1/blobs/${blob.hash}`);
    await poll();
  } catch (e) { showError(e); }
}

let pollFailed = false;

async function poll() {
  try {
    const [status, peers, blobs, downloads] = await Promise.all([
      getJson('/v1/status'), getJson('/v1/peers'), getJson('/v1/blobs'), getJson('/v1/downloads')]);
    renderStatus(status);
    renderPeers(peers);
    renderBlobs(blobs);
    renderDownloads(downloads);
    renderCompute(status.compute);
    if (pollFailed) showError(null);
    pollFailed = false;
    $('conn').textContent = 'live';
    $('conn').className = 'badge ok';
  } catch (e) {
    $('conn').textContent = 'no answer';
    $('conn').className = 'badge bad';
    pollFailed = true;
    showError(e);
  }
}

async function share(event) {
  event.preventDefault();
  const tags = $('share-tags').value.split(',').map((t) => t.trim()).filter(Boolean);
  const body = { path: $('share-path').value.trim(), tags };
  if ($('share-name').value.trim()) body.name = $('share-name').value.trim();
  $('share-result').textContent = 'sharing…';
  try {
    const shared = await (await api('POST', '/v1/share', body)).json();
    $('share-result').textContent = shared.ticket;
    $('share-result').title = `${shared.name}, ${bytes(shared.size)}`;
    showError(null);
    poll();
  } catch (e) {
    $('share-result').textContent = '';
    showError(e);
  }
}

async function connect(event) {
  event.preventDefault();
  $('connect-state').textContent = 'dialing…';
  try {
    const answer = await api('POST', '/v1/connect', { addr: $('connect-addr').value.trim() });
    $('connect-state').textContent = `connected to ${short((await answer.json()).peer_id)}`;
    $('connect-addr').value = '';
    poll();
  } catch (e) { $('connect-state').textContent = `not connected: ${e.message}`; }
}

async function start() {
  try {
    const info = await getJson('/ui/info');
    $('version').textContent = info.version;
    $('get-dir').value = info.downloads_dir;
  } catch (e) { showError(e); }
  $('share-form').addEventListener('submit', share);
  $('connect-form').addEventListener('submit', connect);
  await poll();
  setInterval(poll, 1000);
}

document.addEventListener('DOMContentLoaded', start);
