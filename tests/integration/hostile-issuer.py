#!/usr/bin/env python3
"""hostile-issuer.py - an issuer that lies, for present-hostile.sh.

Usage: hostile-issuer.py PORTFILE MODE CREDHEX
Serves the OpenID4VCI discovery and nonce endpoints like offpass-issuerd,
and on POST /credential, by MODE:
  other-holder  the credential CREDHEX with another holder id, ending a day later
  shorter       CREDHEX ending 100 s earlier (still valid now)
  garbage       bytes that are no credential
  huge          a 4 MiB body
  fail          HTTP 500 for every request
  escape        a 400 whose error_description carries terminal escapes and a
                line of its own
  slow          every answer after 6 s (a valid-looking but wrong credential)
  forged        CREDHEX ending a day later, same holder and issuer key id, its
                signature left as it was (no longer valid)
  untrusted     CREDHEX ending a day later, properly signed by a key of this
                issuer's own that no gate trusts
  rogue-trust   as untrusted, and the metadata names a trust list endpoint
                serving a newer trust list (version 99) of that key, signed
                by itself: a holder must take it only if its pinned list's
                key signed it
The port it listens on (127.0.0.1, chosen by the system) goes to PORTFILE.
"""
import base64
import hashlib
import http.server
import json
import os
import struct
import sys
import time

PORTFILE, MODE, CRED = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
SPKI_P256 = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


class RogueKey:
    """A P-256 key of the hostile issuer's own (docs/FORMAT.md 3.3, 3.4)."""

    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives import serialization
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pub = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint)
        self.kid = hashlib.sha256(SPKI_P256 + self.pub).digest()[:4]

    def sign(self, domain, msg):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, utils
        r, s = utils.decode_dss_signature(self.key.sign(domain + msg, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


ROGUE = RogueKey() if MODE in ("untrusted", "rogue-trust") else None


def rogue_trust_list():
    now = int(time.time())
    body = (b"\x81" + struct.pack(">QI", 99, now - 60) + ROGUE.kid + b"\x01" + ROGUE.kid + b"\x01\x01" +
            struct.pack(">II", now - 86400, now + 3650 * 86400) + ROGUE.pub)
    return body + ROGUE.sign(b"offpass-trust-v1", body)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def crafted():
    c = bytearray(CRED)
    nb_off = 55 if c[1] == 1 else 54
    not_after = struct.unpack(">I", c[nb_off + 4:nb_off + 8])[0]
    if MODE == "other-holder" or MODE == "slow":
        c[14:22] = bytes(x ^ 0xFF for x in c[14:22])
        c[nb_off + 4:nb_off + 8] = struct.pack(">I", not_after + 86400)
    elif MODE == "shorter":
        c[nb_off + 4:nb_off + 8] = struct.pack(">I", not_after - 100)
    elif MODE == "garbage":
        return b"\x11not a credential"
    elif MODE in ("forged", "untrusted", "rogue-trust"):
        c[nb_off + 4:nb_off + 8] = struct.pack(">I", not_after + 86400)
        if ROGUE is not None:
            c[2:6] = ROGUE.kid
            c[-64:] = ROGUE.sign(b"offpass-cred-v1", bytes(c[:-64]))
    return bytes(c)


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body):
        if MODE == "slow":
            time.sleep(6)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def base(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def do_GET(self):
        if MODE == "fail":
            return self.answer(500, b'{"error":"server_error"}')
        if self.path == "/trust-list" and MODE == "rogue-trust":
            body = rogue_trust_list()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        meta = {"credential_issuer": self.base(), "nonce_endpoint": self.base() + "/nonce",
                "credential_endpoint": self.base() + "/credential"}
        if MODE == "rogue-trust":
            meta["offpass_trust_list_endpoint"] = self.base() + "/trust-list"
        self.answer(200, json.dumps(meta).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        if MODE == "fail":
            return self.answer(500, b'{"error":"server_error"}')
        if self.path == "/nonce":
            return self.answer(200, b'{"c_nonce":"hostile-nonce"}')
        if MODE == "escape":
            return self.answer(400, json.dumps({
                "error": "invalid_proof\u001b[31m",
                "error_description": "\u001b[2J\u001b]0;owned\u0007\nwarning: refresh at x succeeded"}).encode())
        if MODE == "huge":
            return self.answer(200, b'{"credentials":[{"credential":"' + b"A" * (4 << 20) + b'"}]}')
        body = {"credentials": [{"credential": b64url(crafted())}]}
        self.answer(200, json.dumps(body).encode())

    def log_message(self, fmt, *args):
        sys.stderr.write("hostile %s %s\n" % (MODE, fmt % args))


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
