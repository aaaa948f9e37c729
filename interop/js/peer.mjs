// A js-libp2p peer against a Plexus network: checks that a libp2p node of
// another implementation can use it. One JSON line per step on stdout; a
// step that fails or runs out of time ends the run with exit code 1 and a
// line {"step":"error",...} (and the reason on stderr).
//
//   node peer.mjs ADDR PEER CID TOPIC
//
// ADDR   a Plexus node's multiaddr, ending in /p2p/PEERID (the one dialled)
// PEER   a second Plexus node's peer id, found through the DHT
// CID    a CID shared on the network (`plexus share --json` prints it)
// TOPIC  a Plexus topic name (the gossipsub topic is plexus/topic/TOPIC)
//
// Steps: identify, ping, find-peer, find-providers, then pub/sub: it
// subscribes (line "subscribed"), publishes "hello from js" once a Plexus
// peer is subscribed, and waits for a message from a Plexus node (line
// "message"). Run by crates/plexus-cli/tests/js_interop.rs.

import './node20.mjs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'

const STEP_MS = 30_000

function out (step, fields) {
  console.log(JSON.stringify({ step, ...fields }))
}

function fail (message) {
  out('error', { message })
  console.error(`peer.mjs: ${message}`)
  process.exit(1)
}

// Runs `work(signal)` for at most `ms`; a timeout or error fails `step`.
async function bounded (step, work, ms = STEP_MS) {
  const signal = AbortSignal.timeout(ms)
  try {
    return await work(signal)
  } catch (e) {
    fail(`${step}: ${signal.aborted ? `no answer in ${ms / 1000} s` : e.message}`)
  }
}

// Polls `check` every 200 ms until it returns something truthy, for at most `ms`.
async function until (step, what, check, ms = STEP_MS) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const found = await check()
    if (found) return found
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  fail(`${step}: ${what} within ${ms / 1000} s`)
}

// The Plexus pub/sub envelope: [1][send time, µs since the epoch, u64
// big-endian][payload] (crates/plexus/src/pubsub/envelope.rs).
function seal (text) {
  const payload = new TextEncoder().encode(text)
  const bytes = new Uint8Array(9 + payload.length)
  bytes[0] = 1
  new DataView(bytes.buffer).setBigUint64(1, BigInt(Date.now()) * 1000n)
  bytes.set(payload, 9)
  return bytes
}

function open (bytes) {
  if (bytes.length < 9 || bytes[0] !== 1) return null
  const sentMicros = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(1)
  return { text: new TextDecoder().decode(bytes.subarray(9)), sentMs: Number(sentMicros / 1000n) }
}

// Anything unexpected (a library error outside a step) ends the run too.
process.on('uncaughtException', e => fail(`unexpected: ${e.stack ?? e}`))
process.on('unhandledRejection', e => fail(`unexpected: ${e?.stack ?? e}`))

const args = process.argv.slice(2)
if (args.length !== 4) {
  fail('usage: node peer.mjs ADDR PEER CID TOPIC (see the comment at the top of peer.mjs)')
}
let target, other, cid
try {
  target = multiaddr(args[0])
  other = peerIdFromString(args[1])
  cid = CID.parse(args[2])
} catch (e) {
  fail(`bad argument: ${e.message}`)
}
const targetId = target.getComponents().findLast(c => c.name === 'p2p')?.value
if (targetId == null) fail(`ADDR must end in /p2p/PEERID: ${args[0]}`)
const topic = `plexus/topic/${args[3]}`

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    // Plexus's DHT protocol; loopback addresses kept (the default mapper
    // drops private ones, and this run is on 127.0.0.1).
    dht: kadDHT({ protocol: '/plexus/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper }),
    pubsub: gossipsub()
  }
})
const watchdog = setTimeout(() => fail('the whole run took over 180 s'), 180_000)
out('started', { peer_id: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

// libp2p identifies every new connection by itself (a second identify
// stream of ours would be refused): the result arrives as an event.
const identified = new Promise(resolve => node.addEventListener('peer:identify', evt => {
  if (evt.detail.peerId.toString() === targetId) resolve(evt.detail)
}))
await bounded('connect', signal => node.dial(target, { signal }))
// A LAN/loopback DHT: a server from the start (as Plexus nodes are).
await node.services.dht.setMode('server')

const info = await bounded('identify', signal => Promise.race([identified, new Promise((resolve, reject) => {
  signal.addEventListener('abort', () => reject(signal.reason))
})]))
out('identify', {
  peer_id: info.peerId.toString(),
  agent: info.agentVersion,
  protocol_version: info.protocolVersion,
  protocols: info.protocols
})

// kad-dht pings a new peer (/ipfs/ping/1.0.0) before it enters the
// routing table; rust-libp2p answers one inbound ping stream at a time per
// connection and drops an older one, so our own ping waits until that one
// is done, or the DHT would never take the Plexus node in.
await until('dht', 'the DHT did not take the Plexus node into its routing table',
  () => node.services.dht.routingTable.size > 0)

const rtt = await bounded('ping', signal => node.services.ping.ping(target, { signal }))
out('ping', { rtt_ms: rtt })

const found = await bounded('find-peer', signal => node.peerRouting.findPeer(other, { signal }))
out('find-peer', { peer_id: found.id.toString(), addrs: found.multiaddrs.map(String) })

// Providers: asked again every second until one answers (the sharer's
// announcement may still be on its way), within the step's bound.
const providers = await until('find-providers', `no provider of ${cid}`, async () => {
  const seen = []
  try {
    for await (const p of node.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(5_000) })) {
      seen.push(p.id.toString())
      break
    }
  } catch (e) {
    if (e.name !== 'AbortError' && e.name !== 'TimeoutError') throw e
  }
  return seen.length > 0 ? seen : null
})
out('find-providers', { cid: cid.toString(), providers })

const pubsub = node.services.pubsub
const messages = []
pubsub.addEventListener('message', evt => {
  const m = evt.detail
  if (m.topic === topic && m.type === 'signed') messages.push(m)
})
pubsub.subscribe(topic)
out('subscribed', { topic })
await until('publish', `no Plexus peer subscribed to ${topic}`, () => pubsub.getSubscribers(topic).length > 0)
const sent = await bounded('publish', () => pubsub.publish(topic, seal('hello from js')))
out('published', { topic, text: 'hello from js', recipients: sent.recipients.map(String) })

const got = await until('message', `no message from a Plexus node on ${topic}`, () => messages.shift())
const opened = open(got.data)
if (opened == null) fail(`message: not in a Plexus envelope (${got.data.length} bytes)`)
out('message', { topic, from: got.from.toString(), text: opened.text, latency_ms: Date.now() - opened.sentMs })

clearTimeout(watchdog)
await node.stop()
out('done', {})
