"""A worker that claims runs and then hangs (the fault test kills it with -9).

    python holder.py BASE_URL QUEUE LIMIT CLAIM_TIMEOUT

Prints the claimed run ids as one JSON line, then waits on stdin forever.
"""

from __future__ import annotations

import json
import sys
import urllib.request


def main() -> None:
    base, queue, limit, claim_timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    body = json.dumps({"limit": limit, "claim_timeout": int(claim_timeout)}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/queues/{queue}/tasks/claim",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        tasks = json.load(resp)["tasks"]
    print(json.dumps([task["run_id"] for task in tasks]), flush=True)
    sys.stdin.read()  # hold the claims until killed


if __name__ == "__main__":
    main()
