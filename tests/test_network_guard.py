import socket

import pytest


def test_non_loopback_connections_are_refused():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(RuntimeError, match="may only use 127.0.0.1"):
        s.connect(("93.184.216.34", 80))
    s.close()
    with pytest.raises(RuntimeError, match="may only use 127.0.0.1"):
        socket.getaddrinfo("huggingface.co", 443)


def test_loopback_is_allowed():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname())
    c.close()
    srv.close()
