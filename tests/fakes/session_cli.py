"""A fake agent CLI that keeps sessions the way the real ones do, for resume tests.

``session_cli.py [--session-id ID | --resume ID] PROMPT`` keeps the session's
transcript in ``$FAKE_HOME/sessions/<ID>.jsonl`` (``$HOME/.fake`` when unset),
one JSON object per line, and prints stream-json-like events on stdout.

FAKE_MODE:
  work_then_limit  records the prompt and one step of work (a tool call and a
                   message that quotes $API_KEY, to test redaction), prints it,
                   then stops on a usage limit (exit 1)
  limit            stops on a usage limit before any work (exit 1)
  answer           answers; a resumed session says how many entries it found
FAKE_NAME: the provider's name, in its answers and its step of work.
FAKE_ARGV_LOG: a file every run appends its arguments to (one JSON list per line).
"""

import json
import os
import sys
from pathlib import Path


def main() -> int:
    args = sys.argv[1:]
    log = os.environ.get("FAKE_ARGV_LOG")
    if log:
        with open(log, "a") as file:
            file.write(json.dumps(args) + "\n")
    name = os.environ.get("FAKE_NAME", "?")
    prompt = args[-1]
    resumed = args[args.index("--resume") + 1] if "--resume" in args else None
    session = resumed or args[args.index("--session-id") + 1]
    home = Path(os.environ.get("FAKE_HOME") or Path(os.environ["HOME"]) / ".fake")
    transcript = home / "sessions" / f"{session}.jsonl"
    if resumed is not None and not transcript.exists():
        print(f"Error: no session {resumed} found", file=sys.stderr)
        return 2
    transcript.parent.mkdir(parents=True, exist_ok=True)
    entries = len(transcript.read_text().splitlines()) if resumed else 0
    mode = os.environ.get("FAKE_MODE", "answer")
    entries_now: list[dict[str, object]] = [{"role": "user", "text": prompt}]
    if mode == "work_then_limit":
        key = os.environ.get("API_KEY")
        entries_now.append({"role": "assistant", "text": f"step done by {name} with key {key}"})
        entries_now.append(
            {"type": "tool_use", "name": "write_file", "input": {"path": f"{name}.txt"}}
        )
    elif mode == "answer":
        entries_now.append({"role": "assistant", "text": "done"})
    # Written (and closed) before anything is printed, as the real CLIs do: a limit
    # seen on stderr ends the process at once.
    with transcript.open("a") as file:
        file.write("".join(json.dumps(entry) + "\n" for entry in entries_now))
    if mode == "work_then_limit":
        print(json.dumps({"type": "assistant", "session_id": session}), flush=True)
    if mode in ("work_then_limit", "limit"):
        print("Error: 429 rate limit exceeded", file=sys.stderr)
        return 1
    where = f"resumed {resumed} after {entries} entries" if resumed else "new session"
    print(f"{name} ({where}): {prompt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
