"""A fake agent CLI whose behaviour the provider's environment selects.

FAKE_MODE: answer (default) | limit | limit_live | auth | fail | fail_echo_last | reject | hang
FAKE_NAME: the provider it was started for; echoed in the answer.
FAKE_FORBIDDEN: comma-separated variables that must not be in the environment.
FAKE_RETRY_AFTER: seconds announced by the limit message.
FAKE_LIMITED_UNTIL: Unix time after which the limit mode answers instead.
FAKE_ECHO: text printed to stderr by the fail and reject modes (to test redaction).
FAKE_SLEEP: seconds the answer mode works before answering.
FAKE_RUN_LOG: a file every run appends its prompt to (one line), to count runs.
FAKE_ARGV_LOG: a file every run appends its arguments to (one JSON list per line).
The prompt is the last argument.
"""

import json
import os
import sys
import time


def main() -> int:
    mode = os.environ.get("FAKE_MODE", "answer")
    name = os.environ.get("FAKE_NAME", "?")
    leaked = [v for v in os.environ.get("FAKE_FORBIDDEN", "").split(",") if v and v in os.environ]
    if leaked:
        print(f"leaked variables: {leaked}", file=sys.stderr)
        return 3
    argv_log = os.environ.get("FAKE_ARGV_LOG")
    if argv_log:
        with open(argv_log, "a") as log:
            log.write(json.dumps(sys.argv[1:]) + "\n")
    run_log = os.environ.get("FAKE_RUN_LOG")
    if run_log:
        with open(run_log, "a") as log:
            log.write(sys.argv[-1].replace("\n", " ") + "\n")
    if mode == "limit" and time.time() >= float(os.environ.get("FAKE_LIMITED_UNTIL", "inf")):
        mode = "answer"
    if mode == "limit":
        wait = os.environ.get("FAKE_RETRY_AFTER")
        print(
            "Error: 429 rate limit exceeded" + (f", retry after {wait}s" if wait else ""),
            file=sys.stderr,
        )
        return 1
    if mode == "limit_live":
        print("Error: 429 rate limit exceeded, retrying", file=sys.stderr, flush=True)
        time.sleep(60)
        return 1
    if mode == "auth":
        print("Error: 401 Unauthorized", file=sys.stderr)
        return 1
    if mode == "fail":
        print(os.environ.get("FAKE_ECHO", ""), file=sys.stderr)
        print("Error: the task makes no sense", file=sys.stderr)
        return 2
    if mode == "fail_echo_last":  # the echoed text is the error's last line
        print("Error: the task makes no sense", file=sys.stderr)
        print(os.environ.get("FAKE_ECHO", ""), file=sys.stderr)
        return 2
    if mode == "reject":  # as commander (the node CLIs' parser) refuses an option
        print(os.environ.get("FAKE_ECHO", ""), file=sys.stderr)
        print("error: unknown option '--bogus'", file=sys.stderr)
        return 1
    if mode == "hang":
        time.sleep(60)
        return 0
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    print(f"{name}: {sys.argv[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
