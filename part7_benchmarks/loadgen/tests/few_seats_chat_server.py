"""A chat relay for loadgen's tests that accepts only its first --seats
clients: every later connection completes its handshake in the kernel and
then waits in the listen queue forever, like a client of a server too slow
to accept. Each frame (4-byte big-endian length + payload) a seated client
sends goes to every other seated client. With --lose-seq N it loses
messages as a faulty server would: a loadgen chat message (not a hello)
whose sequence number is N is not relayed to the first seated client.

Run: python3 few_seats_chat_server.py --seats N [--lose-seq N]
(prints "listening on 127.0.0.1:PORT"; stops when stdin closes).
"""

import argparse
import socket
import struct
import sys
import threading

from wrong_reply_server import recv_exactly  # same folder: the tests' other server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seats", type=int, required=True)
    parser.add_argument("--lose-seq", type=int)
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    lock = threading.Lock()
    seated = []

    def relay(conn):
        try:
            while True:
                header = recv_exactly(conn, 4)
                if header is None:
                    return
                payload = recv_exactly(conn, struct.unpack(">I", header)[0])
                if payload is None:
                    return
                # loadgen's message: magic (4 bytes), sender (4), sequence number (8), ...
                lost = (args.lose_seq is not None and len(payload) >= 16 and payload[:4] != b"LGHI"
                        and struct.unpack(">Q", payload[8:16])[0] == args.lose_seq)
                with lock:  # one frame at a time, so frames never interleave
                    for other in seated:
                        if other is not conn and not (lost and other is seated[0]):
                            other.sendall(header + payload)
        except OSError:
            pass
        finally:
            with lock:
                seated.remove(conn)
            conn.close()

    def accept_loop():
        for _ in range(args.seats):
            conn, _ = listener.accept()
            with lock:
                seated.append(conn)
            threading.Thread(target=relay, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    sys.stdin.read()  # the test closes our stdin (or kills us) to stop us


if __name__ == "__main__":
    main()
