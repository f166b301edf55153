"""The `synthetic` backend: deterministic, readable text and schema-valid tool arguments with
no model, for tests and benchmarks.

`backend` implements the contract; the rest are its helpers: `prompt` (what the prompt asks
for), `text` (composing answers), `tools` (planning tool calls), `jsonschema` (filling JSON
schemas), `sampler` (seeded choices and logprobs), `tokens` (word-level tokens).
"""

from rillet.server.backends.synthetic.backend import SyntheticBackend

__all__ = ["SyntheticBackend"]
