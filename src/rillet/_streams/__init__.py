"""Streams: typed events out of a response body.

`stream` holds `Stream`/`AsyncStream` and the I/O-free `EventDecoder` they share; `chat_state`
accumulates chat chunks into a completion; `helpers` wraps a raw stream for the `.stream()`
helpers of the resources.
"""

from rillet._streams.stream import AsyncStream, EventDecoder, Progress, Stream, UsageProgress

__all__ = ["AsyncStream", "EventDecoder", "Progress", "Stream", "UsageProgress"]
