"""Where the app listens. A port another program holds is said in one line before anything loads (Gradio's own
error is a traceback after seconds of imports); the default port, asked for by nobody, moves on to the next free
one instead, as Gradio does when it is given none."""

from __future__ import annotations

import errno
import socket

DEFAULT_PORT = 7860
SEARCHED = 100  # ports tried after the default one: Gradio's own range


def bindable(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now; ValueError when the host is not an address of this
    machine or a name that resolves."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise ValueError(
            f"--host {host!r} is not an address or name this machine can listen on ({e.strerror})"
        ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port left in TIME_WAIT is free to a server
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise ValueError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    return True


def asked_port(flag: int | None, environ) -> int | None:
    """The port asked for: --port, else $GRADIO_SERVER_PORT, else $PORT (Spaces set it); None if none was."""
    if flag is not None:
        named, value = "--port", str(flag)
    else:
        named, value = next(((k, environ[k]) for k in ("GRADIO_SERVER_PORT", "PORT") if environ.get(k)), (None, None))
        if named is None:
            return None
    if not value.strip().isdigit() or not 0 <= int(value) <= 65535:
        raise ValueError(f"{named} must be a port number from 0 to 65535, got {value!r}")
    return int(value)


def listen_port(host: str, port: int | None) -> tuple[int, str | None]:
    """(the port to listen on, a note when it is not the default one asked for). `port` None: nobody asked for
    one. ValueError, naming what to do, when the port asked for is taken."""
    if port is not None:
        if port and not bindable(host, port):
            raise ValueError(
                f"port {port} is in use (another Sentiment Lab, or another program): choose another with --port, "
                "or stop that one"
            )
        return port, None
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + SEARCHED):
        if bindable(host, candidate):
            moved = (
                f"note: port {DEFAULT_PORT} is in use, so the app listens on {candidate}"
                if candidate != DEFAULT_PORT
                else None
            )
            return candidate, moved
    raise ValueError(f"ports {DEFAULT_PORT} to {DEFAULT_PORT + SEARCHED - 1} are all in use: choose one with --port")
