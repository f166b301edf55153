"""`rillet bench`: a load generator for any OpenAI-compatible streaming server.

The modules, lowest first: `workload` (what each request asks), `load` (when requests
start), `runner` (sends them with rillet's AsyncOpenAI and times every chunk), `metrics`
(pure functions over the records), `report` (the terminal table, result folders, compare),
`plots` (matplotlib, imported only when plots are drawn), `progress` (the live line) and
`cli` (options). docs/bench.md defines every metric.
"""
