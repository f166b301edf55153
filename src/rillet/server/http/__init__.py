"""HTTP plumbing every endpoint shares: the ASGI helpers, bearer auth, OpenAI-shaped errors,
the SSE response, request-body validation and async-iterator helpers.

Nothing here knows an endpoint or a backend beyond the contract in `backends.base`.
"""
