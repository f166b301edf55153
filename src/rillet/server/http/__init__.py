"""HTTP plumbing every endpoint shares: the ASGI helpers, bearer auth, OpenAI-shaped errors,
the SSE response, request-body validation, the fields each endpoint knows (implemented,
ignored, refused) and async-iterator helpers.

Nothing here knows an endpoint or a backend beyond the contract in `backends.base`.
"""
