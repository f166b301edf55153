"""`POST /v1/chat/completions`: `request` parses and validates the body, `endpoint` runs the
backend and writes chunks (streamed) or one completion."""
