"""API resources: `client.chat.completions`, `client.models`, `client.responses`."""
