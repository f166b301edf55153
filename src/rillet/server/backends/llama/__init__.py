"""The `llama` backend: Gemma 3 270M (or any GGUF) through llama-cpp-python, in-process.

`backend` implements the contract and owns the worker thread; `run` is one generation;
`cache` reuses the KV cache of shared prompt prefixes; `prompt` renders Gemma's turn format;
`constraints` builds grammars for tool calls and JSON output.

Importing this package does not import llama_cpp; its modules `backend`, `run`, `cache` and
`constraints` do.
"""
