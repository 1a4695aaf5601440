"""Byte relaying between a local connection and the client library's port-forward socket.

The library's proxy thread writes to our socket-pair end with blocking sends and dies with a reset
if we close that end with data unread, so: keep reading while writing, and close gracefully.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable

CHUNK = 256 * 1024


def clip(text: str) -> str:
    return " ".join(text.split())[:200]


def first_answer(conn, remote, sent: bytearray, closed: Callable[[], bool]) -> tuple[str, int]:
    """Send ``sent`` (earlier client bytes) and relay until the pod sends its first bytes.

    Returns (outcome, bytes of ``sent`` delivered): "answered", "pod" (the stream ended first) or
    "client" (the client went away). Sends are non-blocking: the client library's proxy thread
    blocks while writing to us, so we must keep reading while we write.
    """
    done = 0
    remote.setblocking(False)
    try:
        while not closed():
            want_more = len(sent) - done < 4 * CHUNK
            try:
                ready, writable, _ = select.select(
                    [remote, conn] if want_more else [remote],
                    [remote] if done < len(sent) else [],
                    [],
                    0.5,
                )
            except (OSError, ValueError):
                return ("client" if conn.fileno() < 0 else "pod"), done
            if remote in ready:
                try:
                    data = remote.recv(CHUNK)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    return "pod", done
                if data:
                    try:
                        conn.sendall(data)
                    except OSError:
                        return "client", done
                    return "answered", done
            if remote in writable:
                try:
                    done += remote.send(sent[done : done + CHUNK])
                except BlockingIOError:
                    pass
                except OSError:
                    return "pod", done
            if conn in ready:
                try:
                    data = conn.recv(CHUNK)
                except OSError:
                    data = b""
                if not data:
                    return "client", done
                sent += data
        return "client", done
    finally:
        with contextlib.suppress(OSError):
            remote.setblocking(True)


def relay(conn, remote, head: bytes, closed: Callable[[], bool]) -> str:
    """Copy both ways until one side ends; return which ended first ("local" or "pod").

    The pod side is the client library's socket pair: it is closed gracefully (EOF, then wait
    for its EOF) because closing it with data unread kills the library's proxy thread with a
    reset and leaves the WebSocket open.
    """
    first: list[str] = []
    up_done = threading.Event()

    def up() -> None:
        ended = "local"
        try:
            if head:
                remote.sendall(head)
            while data := conn.recv(CHUNK):
                try:
                    remote.sendall(data)
                except OSError:
                    ended = "pod"
                    break
        except OSError:
            pass
        first.append(ended)
        with contextlib.suppress(OSError):
            remote.shutdown(socket.SHUT_WR)
        up_done.set()

    thread = threading.Thread(target=up, name="tfcompare-forward-up", daemon=True)
    thread.start()
    ended, give_up = "pod", None
    while True:
        try:
            ready, _, _ = select.select([remote], [], [], 1.0)
        except (OSError, ValueError):
            break
        if not ready:
            if closed() or up_done.is_set():  # the proxy should answer our EOF promptly
                give_up = give_up or time.monotonic() + 5
                if time.monotonic() > give_up:
                    break
            continue
        try:
            data = remote.recv(CHUNK)
        except OSError:
            break
        if not data:
            break
        try:
            conn.sendall(data)
        except OSError:
            ended = "local"
            break
    first.append(ended)
    shut(conn)  # ends the up thread, which sends EOF to the pod side
    thread.join(5)
    close_remote(remote)
    return first[0]


def hang_up(local, remote) -> None:
    """End a relay from another thread: its own thread then closes everything properly."""
    with contextlib.suppress(OSError):
        local.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        remote.shutdown(socket.SHUT_WR)


def close_remote(remote, wait_s: float = 2.0) -> None:
    """Send EOF to the library's proxy, read until it closes its end, then close ours."""
    with contextlib.suppress(OSError):
        remote.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + wait_s
    with contextlib.suppress(OSError, ValueError):
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([remote], [], [], left)
            if not ready or not remote.recv(CHUNK):
                break
    with contextlib.suppress(OSError):
        remote.close()


def shut(sock) -> None:
    with contextlib.suppress(OSError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError, AttributeError):
        sock.close()
