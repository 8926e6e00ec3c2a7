"""A stand-in for the measuring child (``python -m tests.slow_child --worker JOB --result OUT``): it sleeps, then
writes an empty result, so tests see ``_run_child`` report progress while a child runs."""
import json
import sys
import time

if __name__ == "__main__":
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    time.sleep(float(json.load(open(args["--worker"], encoding="utf-8"))["sleep_s"]))
    with open(args["--result"], "w", encoding="utf-8") as f:
        json.dump({"rows": []}, f)
