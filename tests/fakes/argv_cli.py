"""A fake agent CLI that answers with its own arguments, in its CLI's output format.

FAKE_FORMAT: claude | qwen (stream-json result lines), gemini (stream-json events),
codex (exec --json events). The answer is the JSON list of the arguments it got, so
a test sees the argv the adapter built and that the adapter parsed the answer.
"""

import json
import os
import sys


def main() -> int:
    answer = json.dumps(sys.argv[1:])
    kind = os.environ.get("FAKE_FORMAT", "claude")
    if kind in ("claude", "qwen"):
        events = [
            {"type": "system", "subtype": "init", "session_id": "s-1"},
            {"type": "result", "subtype": "success", "is_error": False, "result": answer},
        ]
    elif kind == "gemini":
        events = [
            {"type": "init", "session_id": "s-1"},
            {"type": "message", "role": "assistant", "content": answer},
            {"type": "result", "status": "success"},
        ]
    else:
        events = [
            {"type": "thread.started", "thread_id": "t-1"},
            {"type": "item.completed", "item": {"type": "agent_message", "text": answer}},
            {"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 1}},
        ]
    for event in events:
        print(json.dumps(event))
    return 0


if __name__ == "__main__":
    sys.exit(main())
