import socket

import pytest
from conftest import NonLoopbackConnection


def test_non_loopback_connections_are_refused():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(NonLoopbackConnection):
        s.connect(("93.184.216.34", 80))
    s.close()
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo("huggingface.co", 443)


def test_loopback_is_allowed():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname())
    c.close()
    srv.close()
