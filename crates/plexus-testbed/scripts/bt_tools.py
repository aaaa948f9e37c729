#!/usr/bin/env python3
"""Helpers for crowd-aria2.sh: make a single-file .torrent, and run a
minimal HTTP tracker that hands every announcing peer the others.

  bt_tools.py torrent FILE TRACKER_URL PIECE_BYTES OUT.torrent
  bt_tools.py tracker PORT
"""
import hashlib
import http.server
import os
import socket
import struct
import sys
import urllib.parse


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def torrent(path, url, piece, out):
    hashes = []
    with open(path, "rb") as f:
        while True:
            block = f.read(piece)
            if not block:
                break
            hashes.append(hashlib.sha1(block).digest())
    info = {
        "length": os.path.getsize(path),
        "name": os.path.basename(path),
        "piece length": piece,
        "pieces": b"".join(hashes),
    }
    with open(out, "wb") as f:
        f.write(bencode({"announce": url, "info": info}))


PEERS = {}  # (ip, port) -> peer id


class Tracker(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query, keep_blank_values=True)
        ip = q.get("ip", [self.client_address[0]])[0]
        port = int(q.get("port", ["0"])[0])
        me = (ip, port)
        if q.get("event", [""])[0] == "stopped":
            PEERS.pop(me, None)
        else:
            PEERS[me] = True
        others = [p for p in PEERS if p != me]
        compact = b"".join(socket.inet_aton(i) + struct.pack(">H", p) for i, p in others)
        body = bencode({"interval": 5, "min interval": 1, "peers": compact})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if sys.argv[1] == "torrent":
        torrent(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "tracker":
        http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), Tracker).serve_forever()
    else:
        sys.exit(__doc__)
