"""A fake agent CLI that talks HTTP like qwen: retries a 429 silently, forever.

``http_cli.py PROMPT``: POSTs an OpenAI chat completion (streamed) for PROMPT
to ``$OPENAI_BASE_URL/chat/completions`` with ``$OPENAI_API_KEY``; on 429 or
5xx it waits a little and tries again without a word; on 200 it prints the
answer and exits 0; on any other status it prints the status on stderr and
exits 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request


def main() -> int:
    prompt = sys.argv[-1]
    url = os.environ["OPENAI_BASE_URL"].rstrip("/") + "/chat/completions"
    body = json.dumps(
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {os.environ.get('OPENAI_API_KEY', '')}",
    }
    while True:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                print(answer_of(response.read().decode()), flush=True)
                return 0
        except urllib.error.HTTPError as error:
            if error.code == 429 or error.code >= 500:
                time.sleep(0.2)  # silently, as qwen does
                continue
            print(f"HTTP {error.code}", file=sys.stderr)
            return 1


def answer_of(stream: str) -> str:
    parts: list[str] = []
    for line in stream.splitlines():
        if line.startswith("data: {"):
            choices = json.loads(line[6:]).get("choices", [])
            parts.extend(choice.get("delta", {}).get("content") or "" for choice in choices)
    return "".join(parts)


if __name__ == "__main__":
    sys.exit(main())
