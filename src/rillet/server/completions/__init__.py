"""`POST /v1/completions` (the legacy Completions API): `request` parses and validates the
body, `endpoint` runs the backend on each raw prompt and writes `text_completion` chunks
(streamed) or one completion."""
