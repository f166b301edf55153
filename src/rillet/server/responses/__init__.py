"""The Responses API (`/v1/responses`): `request` parses bodies, `events` turns backend output
into Responses events, `store` keeps responses and their event logs for retrieval and
reattaching, `endpoint` holds the HTTP handlers."""
