"""Transports: what moves bytes between httpx and a socket.

`http11` is the default transport of every client rillet builds: HTTP/1.1 over plain sockets
(sync) or an asyncio protocol (async), decoding many body chunks per socket read. `wire` is its
sans-I/O framing and `pool` its connection bookkeeping; neither does any I/O.
"""

from rillet._transports.http11 import AsyncHTTP11Transport, HTTP11Transport, env_proxies_set

__all__ = ["AsyncHTTP11Transport", "HTTP11Transport", "env_proxies_set"]
