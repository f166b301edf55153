"""`POST /v1/embeddings`: `request` parses and validates the body, `endpoint` asks the
backend for unit vectors and writes them as floats or base64 (little-endian float32)."""
