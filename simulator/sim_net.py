# A test client for the conformance suite: a TCP connection whose every
# operation has a timeout and whose every failure raises CaseFailure with a
# message that says what was expected and what arrived instead.
from __future__ import annotations

import select
import socket
import struct
import sys
import threading
from typing import Callable, Optional, Sequence, Tuple

from sim_server import format_address

RECV_SIZE = 64 * 1024
SEND_CHUNK = 64 * 1024  # a sendall per chunk, so its timeout means "no progress"
WRITER_JOIN_TIMEOUT = 5.0
ABBREVIATE_LIMIT = 48  # bytes shown of long data in messages
# struct linger {on = 1, seconds = 0}: close() then aborts with RST. Windows
# declares both fields u_short, POSIX int.
LINGER_ABORT = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)

Logger = Callable[[str], None]
SocketOption = Tuple[int, int, int]  # (level, name, value) for setsockopt


class CaseFailure(Exception):
    """A conformance case failed; the message is the reason shown to the user."""


def abbreviate(data: bytes, limit: int = ABBREVIATE_LIMIT) -> str:
    """repr() of `data`, cut in the middle when longer than `limit` bytes."""
    data = bytes(data)
    if len(data) <= limit:
        return repr(data)
    head, tail = data[: limit * 2 // 3], data[-(limit // 3):]
    return "%r...%r (%d bytes)" % (head, tail, len(data))


def first_difference(expected: bytes, received: bytes) -> int:
    """Index of the first byte where `received` departs from `expected`."""
    for index, (want, got) in enumerate(zip(expected, received)):
        if want != got:
            return index
    return min(len(expected), len(received))


MISMATCH_CONTEXT = 8  # bytes shown before the first difference


def describe_mismatch(expected: bytes, received: bytes) -> str:
    """What was expected, what arrived, and where they first differ."""
    index = first_difference(expected, received)
    start = max(0, index - MISMATCH_CONTEXT)
    window = slice(start, index + 2 * MISMATCH_CONTEXT)
    return ("expected %s, got %s (first difference at byte %d; from byte %d on: expected %s, "
            "got %s)" % (abbreviate(expected), abbreviate(received), index, start,
                         abbreviate(expected[window]), abbreviate(received[window])))


class Client:
    """One blocking TCP client connection for a test case.

    Every receive waits at most `timeout` seconds for progress. Methods raise
    CaseFailure on any unexpected outcome. Use it as a context manager so the
    socket is closed however the case ends.
    """

    def __init__(self, address: Tuple[str, int], name: str, timeout: float,
                 log: Optional[Logger] = None) -> None:
        self.address = address
        self.name = name
        self.timeout = timeout
        self._log = log
        self.sock: Optional[socket.socket] = None
        self._writer: Optional[BackgroundWriter] = None

    # -- connection lifetime

    def connect(self, timeout: Optional[float] = None,
                options: Sequence[SocketOption] = ()) -> "Client":
        """Connect (waiting up to `timeout`, default self.timeout); sets
        TCP_NODELAY so that each send leaves as its own segment. `options`,
        (level, name, value) triples, are set before connecting: what the
        handshake announces (TCP_MAXSEG) or sizes (SO_RCVBUF, the window)."""
        wait = self.timeout if timeout is None else timeout
        try:
            self.sock = (connect_with_options(self.address, wait, options) if options
                         else socket.create_connection(self.address, timeout=wait))
        except socket.timeout:
            raise CaseFailure("%s: timed out after %.1f s waiting for connect() to %s"
                              % (self.name, wait, format_address(*self.address))) from None
        except OSError as error:
            raise CaseFailure("%s: cannot connect to %s: %s" % (
                self.name, format_address(*self.address), _error_text(error))) from None
        self.sock.settimeout(self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.log("connected")
        return self

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close normally (FIN). Stops a background writer first."""
        if self.sock is None:
            return
        self._stop_writer()
        self.sock.close()
        self.sock = None
        self.log("closed")

    def reset(self) -> None:
        """Abort the connection: SO_LINGER {1, 0} then close sends RST."""
        if self.sock is None:
            return
        self._stop_writer()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ABORT)
        self.sock.close()
        self.sock = None
        self.log("reset (RST)")

    def shutdown_write(self) -> None:
        """Half-close: send FIN, keep reading."""
        self._socket().shutdown(socket.SHUT_WR)
        self.log("shut down its sending side")

    def abort_from_other_thread(self) -> None:
        """Wake any thread blocked on this connection (used to end a case early)."""
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- sending

    def send(self, data: bytes, what: str = "") -> None:
        """Send all of `data` (one sendall: one segment when small)."""
        try:
            self._socket().sendall(data)
        except socket.timeout:
            raise CaseFailure("%s: timed out after %.1f s sending %s%s (the server is not reading)"
                              % (self.name, self.timeout, abbreviate(data), _for(what))) from None
        except OSError as error:
            raise CaseFailure("%s: sending %s%s failed: %s" % (
                self.name, abbreviate(data), _for(what), _error_text(error))) from None
        self.log("sent " + abbreviate(data))

    def send_nowait(self, data: bytes) -> int:
        """Send as much of `data` as the kernel takes without blocking;
        returns how many bytes that was. Errors count as zero bytes taken."""
        sock = self._socket()
        sock.setblocking(False)
        sent = 0
        try:
            while sent < len(data):
                sent += sock.send(data[sent:sent + SEND_CHUNK])
        except OSError:
            pass  # would block, or the peer is gone: either way we stop here
        finally:
            sock.settimeout(self.timeout)
        self.log("sent %d of %d bytes without waiting" % (sent, len(data)))
        return sent

    def send_in_background(self, data: bytes, ignore_errors: bool = False) -> "BackgroundWriter":
        """Start sending `data` from another thread, so the caller can read
        replies meanwhile (a server may answer before the request has fully
        arrived, and neither side's buffers can hold a large exchange)."""
        self._writer = BackgroundWriter(self, data, ignore_errors)
        self._writer.start()
        return self._writer

    def _stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None and writer.is_alive():
            self.abort_from_other_thread()
            writer.join(WRITER_JOIN_TIMEOUT)

    # -- receiving

    def expect(self, expected: bytes, what: str, timeout: Optional[float] = None) -> None:
        """Receive exactly len(expected) bytes and require them to equal
        `expected`. Fails as soon as a received byte differs, on EOF, on a
        reset, or after `timeout` seconds (default self.timeout) without
        progress. `what` names the awaited bytes for the failure message.
        Never consumes bytes beyond `expected`."""
        received = bytearray()
        sock = self._socket()
        wait = self.timeout if timeout is None else timeout
        sock.settimeout(wait)
        try:
            while len(received) < len(expected):
                chunk = self._recv(min(RECV_SIZE, len(expected) - len(received)), expected,
                                   received, what, wait)
                self.log("received " + abbreviate(chunk))
                offset = len(received)
                received += chunk
                if expected[offset:len(received)] != chunk:
                    raise CaseFailure("%s: wrong bytes for %s: %s"
                                      % (self.name, what, describe_mismatch(expected, received)))
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)

    def _recv(self, size: int, expected: bytes, received: bytearray, what: str,
              wait: float) -> bytes:
        """One recv() for expect(); turns every way it can fail into CaseFailure."""
        progress = "expected %s, got %s" % (abbreviate(expected), abbreviate(received))
        try:
            chunk = self._socket().recv(size)
        except socket.timeout:
            raise CaseFailure("%s: timed out after %.1f s waiting for %s: %s"
                              % (self.name, wait, what, progress)) from None
        except OSError as error:
            raise CaseFailure("%s: %s while waiting for %s: %s"
                              % (self.name, _error_text(error), what, progress)) from None
        if not chunk:
            raise CaseFailure("%s: the server closed the connection while we waited for %s: %s"
                              % (self.name, what, progress))
        return chunk

    def has_data(self, wait: float = 0.0) -> bool:
        """Whether the server has sent something (bytes, EOF or a reset)
        that a receive would return at once, waiting up to `wait` seconds
        for it; consumes nothing."""
        readable, _, _ = select.select([self._socket()], [], [], wait)
        return bool(readable)

    def expect_eof(self, what: str, timeout: Optional[float] = None,
                   allow_reset: bool = False) -> None:
        """Require that the server closes the connection (EOF; or a reset if
        `allow_reset`) within `timeout` seconds, sending no further bytes."""
        sock = self._socket()
        wait = self.timeout if timeout is None else timeout
        sock.settimeout(wait)
        try:
            chunk = sock.recv(RECV_SIZE)
        except socket.timeout:
            raise CaseFailure("%s: timed out after %.1f s waiting for the server to close "
                              "the connection %s" % (self.name, wait, what)) from None
        except ConnectionResetError:
            if allow_reset:
                self.log("connection reset by the server")
                return
            raise CaseFailure("%s: the server reset the connection %s; expected an orderly "
                              "close (EOF)" % (self.name, what)) from None
        except OSError as error:
            raise CaseFailure("%s: %s while waiting for the server to close the connection %s"
                              % (self.name, _error_text(error), what)) from None
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)
        if chunk:
            self.log("received " + abbreviate(chunk))
            raise CaseFailure("%s: expected the server to close the connection %s without "
                              "sending anything, but received %s"
                              % (self.name, what, abbreviate(chunk)))
        self.log("end of stream (EOF)")

    # -- helpers

    def _socket(self) -> socket.socket:
        if self.sock is None:
            raise CaseFailure("%s: used after it was closed (a bug in the case)" % self.name)
        return self.sock

    def log(self, text: str) -> None:
        if self._log is not None:
            self._log("%s %s" % (self.name, text))


class BackgroundWriter(threading.Thread):
    """Sends one buffer on a Client's socket from its own thread.

    `finish()` waits for it and raises CaseFailure if the send failed (unless
    errors are ignored, for cases where the server is expected to hang up).
    """

    def __init__(self, client: Client, data: bytes, ignore_errors: bool) -> None:
        super().__init__(name="%s-writer" % client.name, daemon=True)
        self.client = client
        self.data = data
        self.ignore_errors = ignore_errors
        self.sent = 0
        self.error: Optional[str] = None

    def run(self) -> None:
        sock = self.client.sock
        assert sock is not None
        try:
            view = memoryview(self.data)
            while self.sent < len(view):
                chunk = view[self.sent:self.sent + SEND_CHUNK]
                sock.sendall(chunk)
                self.sent += len(chunk)
        except socket.timeout:
            self.error = ("timed out after %.1f s sending (the server stopped reading after "
                          "%d of %d bytes)" % (self.client.timeout, self.sent, len(self.data)))
        except OSError as error:
            self.error = "sending failed after %d of %d bytes: %s" % (
                self.sent, len(self.data), _error_text(error))
        self.client.log("sent %d of %d bytes in the background" % (self.sent, len(self.data)))

    def finish(self) -> None:
        """Wait for the writer; raise CaseFailure if it failed."""
        self.join(self.client.timeout + WRITER_JOIN_TIMEOUT)
        if self.is_alive():
            raise CaseFailure("%s: the background send of %d bytes did not finish"
                              % (self.client.name, len(self.data)))
        if self.error and not self.ignore_errors:
            raise CaseFailure("%s: %s" % (self.client.name, self.error))


def connect_with_options(address: Tuple[str, int], timeout: float,
                         options: Sequence[SocketOption]) -> socket.socket:
    """A TCP connection to `address` whose socket got `options` before
    connect() (socket.create_connection sets none)."""
    host, port = address
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        for level, name, value in options:
            sock.setsockopt(level, name, value)
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _for(what: str) -> str:
    return " (%s)" % what if what else ""


def _error_text(error: OSError) -> str:
    """'connection reset by peer' and the like, without errno noise."""
    names = {
        ConnectionResetError: "connection reset by the server",
        BrokenPipeError: "broken pipe (the server closed the connection)",
        ConnectionRefusedError: "connection refused (is the server running?)",
    }
    for kind, text in names.items():
        if isinstance(error, kind):
            return text
    return "%s: %s" % (type(error).__name__, error.strerror or error)
