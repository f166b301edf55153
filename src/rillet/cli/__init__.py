"""The `rillet` command: `rillet serve`, `rillet chat` and `rillet bench`."""

from __future__ import annotations

import sys

USAGE = """usage: rillet <command> [options]

commands:
  serve   run the local OpenAI-compatible streaming server
  chat    stream an answer to a prompt in the terminal
  bench   load-test an OpenAI-compatible server (`rillet bench compare A B` compares runs)

`rillet <command> --help` describes each command's options.
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    command, rest = args[0], args[1:]
    if command == "serve":
        from rillet.server.cli import main as serve_main

        return serve_main(rest)
    if command == "chat":
        from rillet.cli.chat import main as chat_main

        return chat_main(rest)
    if command == "bench":
        from rillet.bench.cli import main as bench_main

        return bench_main(rest)
    sys.stderr.write(f"rillet: unknown command {command!r}\n\n{USAGE}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
