"""A deliberately broken shift/framed server for loadgen's tests: it greets
and frames correctly but answers every byte with b+2 instead of b+1, so every
reply has the right length and the wrong content. A load generator that
counts such replies as throughput fails the test that uses this.

Run: python3 wrong_reply_server.py --protocol shift|framed
(prints "listening on 127.0.0.1:PORT", like the tutorial's servers; stops at
SIGTERM or when stdin closes).
"""

import argparse
import socket
import struct
import sys
import threading


def serve_shift(conn):
    conn.sendall(b"*")
    inside = False
    while True:
        data = conn.recv(65536)
        if not data:
            return
        out = bytearray()
        for b in data:
            if not inside:
                inside = b == ord("^")
            elif b == ord("$"):
                inside = False
            else:
                out.append((b + 2) % 256)
        if out:
            conn.sendall(bytes(out))


def recv_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_framed(conn):
    while True:
        header = recv_exactly(conn, 4)
        if header is None:
            return
        (length,) = struct.unpack(">I", header)
        payload = recv_exactly(conn, length) if length else b""
        if payload is None:
            return
        conn.sendall(header + bytes((b + 2) % 256 for b in payload))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["shift", "framed"], default="shift")
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    serve = serve_shift if args.protocol == "shift" else serve_framed

    def client(conn):
        with conn:
            try:
                serve(conn)
            except OSError:
                pass

    def accept_loop():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=client, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    sys.stdin.read()  # the test closes our stdin (or kills us) to stop us


if __name__ == "__main__":
    main()
