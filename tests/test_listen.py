"""Where the app listens: a port another program holds is one clear line, and the default moves past it."""

from __future__ import annotations

import socket

import pytest

from sentiment_lab.ui import listen


@pytest.fixture
def held_port():
    """A port another program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_port_asked_for_and_held_by_another_program_is_refused_by_name(held_port):
    with pytest.raises(ValueError, match=f"port {held_port} is in use .* choose another with --port"):
        listen.listen_port("127.0.0.1", held_port)


def test_the_default_port_held_by_another_program_moves_to_the_next_free_one(held_port, monkeypatch):
    monkeypatch.setattr(listen, "DEFAULT_PORT", held_port)
    port, note = listen.listen_port("127.0.0.1", None)
    assert port > held_port and note == f"note: port {held_port} is in use, so the app listens on {port}"
    assert listen.bindable("127.0.0.1", port)


@pytest.mark.parametrize(
    ("flag", "environ", "message"),
    [
        (70000, {}, "--port must be a port number from 0 to 65535, got '70000'"),
        (None, {"PORT": "abc"}, "PORT must be a port number"),
        (None, {"GRADIO_SERVER_PORT": "-1", "PORT": "80"}, "GRADIO_SERVER_PORT must be a port number"),
    ],
)
def test_a_port_that_is_no_port_number_is_named(flag, environ, message):
    with pytest.raises(ValueError, match=message):
        listen.asked_port(flag, environ)


def test_the_port_asked_for_wins_in_order_flag_then_gradios_then_spaces():
    assert listen.asked_port(None, {}) is None
    assert listen.asked_port(None, {"PORT": "7000"}) == 7000
    assert listen.asked_port(None, {"GRADIO_SERVER_PORT": "7100", "PORT": "7000"}) == 7100
    assert listen.asked_port(8080, {"GRADIO_SERVER_PORT": "7100"}) == 8080


def test_a_host_that_does_not_resolve_is_named():
    with pytest.raises(ValueError, match="--host 'no-such-host.invalid' is not an address"):
        listen.bindable("no-such-host.invalid", 7860)
