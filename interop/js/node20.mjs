// libp2p 3.x calls Promise.withResolvers (Node 22+); Debian's and this
// machine's Node is 20. The standard behaviour, for Node 20 only. Imported
// first by peer.mjs, so it is in place before any libp2p code runs.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
