"""A stand-in coding agent for the offline demo: no network, no model.

    python3 agent.py --as NAME [--out-of-quota] PROMPT

With --out-of-quota it answers like a CLI whose provider has run out of
quota; otherwise it "does" the prompt.
"""

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--as", dest="name", required=True)
    parser.add_argument("--out-of-quota", action="store_true")
    parser.add_argument("prompt")
    arguments = parser.parse_args()
    if arguments.out_of_quota:
        print(f"Error: 429 usage limit reached on {arguments.name}, resets in 30s", file=sys.stderr)
        return 1
    print(f"[{arguments.name}] done: {arguments.prompt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
