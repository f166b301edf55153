import httpx

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# As the official client: 600 s for each read and write, 5 s to connect.
DEFAULT_TIMEOUT = httpx.Timeout(timeout=600.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
DEFAULT_CONNECTION_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A Retry-After longer than this is not honoured: backing off is better than hanging.
MAX_RETRY_AFTER = 60.0
