// Plexus dashboard: the Storage section. Objects this node stored in the
// network (GET /v1/storage/pins: their holders are asked which shards are
// alive, so the list is read every 15 s and on Refresh, not every second)
// and shards it holds for others; store a file, unstore an object.
'use strict';

const PINS_EVERY_MS = 15000;

function redundancyText(r) {
  if (!r) return '';
  if (r.replicas !== undefined) return `${r.replicas} replica${r.replicas === 1 ? '' : 's'}`;
  if (r.erasure) return `erasure ${r.erasure.k}/${r.erasure.n}`;
  return JSON.stringify(r);
}

/** Health of an own object: shards alive of placed, and K needed. */
function health(p) {
  if (p.kind !== 'own') return el('td', {}, `shard ${p.index}`);
  const ok = p.alive >= p.needed;
  const full = p.alive >= p.placed;
  return el('td', { class: full ? 'ok' : ok ? 'warn' : 'bad' },
    `${p.alive}/${p.placed} alive, ${p.needed} needed${ok ? '' : ': cannot be rebuilt'}`);
}

function renderPins(pins) {
  const own = pins.filter((p) => p.kind === 'own').length;
  $('pin-counts').textContent = `${own} stored by this node, ${pins.length - own} shards held for others`;
  $('no-pins').hidden = pins.length > 0;
  fill($('pin-rows'), pins, (p) => el('tr', { 'data-object': p.object, class: p.kind },
    el('td', {}, p.kind === 'own' ? 'stored' : 'held'),
    el('td', {}, p.name || '–'),
    el('td', { class: 'mono', title: p.object }, String(p.object).slice(0, 16)),
    el('td', {}, bytes(p.bytes)),
    el('td', {}, redundancyText(p.redundancy)),
    health(p),
    el('td', {}, p.kind === 'own'
      ? el('button', { class: 'small danger', onclick: () => unstore(p) }, 'Unstore') : '')));
}

let pinsBusy = false;

async function pollPins() {
  if (pinsBusy) return;
  pinsBusy = true;
  $('pins-state').textContent = 'asking holders…';
  try {
    renderPins(await getJson('/v1/storage/pins'));
    $('pins-state').textContent = `as of ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $('pins-state').textContent = `not read: ${e.message}`;
  } finally {
    pinsBusy = false;
  }
}

async function unstore(p) {
  if (!window.confirm(`End ${p.name || p.object}? Its holders release the shards.`)) return;
  try {
    const released = await (await api('POST', '/v1/storage/unstore', { object: p.object })).json();
    $('store-result').textContent = '';
    $('store-state').textContent =
      `unstored ${p.name || p.object}: ${released} holder${released === 1 ? '' : 's'} released it`;
    await pollPins();
  } catch (e) { showError(e); }
}

/** `4/8` is erasure coding, `3` is three replicas, empty the default. */
function parseRedundancy(text) {
  const t = text.trim();
  if (!t) return { erasure: null, replicas: null };
  if (t.includes('/')) return { erasure: t, replicas: null };
  const n = Number(t);
  if (!Number.isInteger(n) || n < 1) throw new Error(`"${t}": give K/N (e.g. 4/8) or a number of replicas`);
  return { erasure: null, replicas: n };
}

async function storeFile(event) {
  event.preventDefault();
  $('store-result').textContent = '';
  try {
    const body = { path: $('store-path').value.trim(), ...parseRedundancy($('store-redundancy').value) };
    $('store-state').textContent = 'placing shards…';
    const stored = await (await api('POST', '/v1/storage/store', body)).json();
    $('store-state').textContent = `stored on ${stored.holders} holders in ${stored.secs.toFixed(1)} s ` +
      '(keep the ticket: it holds the key)';
    $('store-result').textContent = stored.ticket;
    showError(null);
    await pollPins();
  } catch (e) {
    $('store-state').textContent = '';
    showError(e);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('store-form').addEventListener('submit', storeFile);
  $('pins-refresh').addEventListener('click', pollPins);
  pollPins();
  setInterval(pollPins, PINS_EVERY_MS);
});
