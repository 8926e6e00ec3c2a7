"""A stand-in for the measuring child (``python -m tests.slow_child --worker JOB --result OUT``): it sleeps, then
writes an empty result, so tests see ``_run_child`` report progress while a child runs; given a ``progress_path``, it
first reports one round of ``round_s`` seconds there, as the window's child does."""
import json
import sys
import time

if __name__ == "__main__":
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    job = json.load(open(args["--worker"], encoding="utf-8"))
    if job.get("progress_path"):
        with open(job["progress_path"], "w", encoding="utf-8") as f:
            json.dump({"rounds": 1, "seconds": float(job["round_s"])}, f)
    time.sleep(float(job["sleep_s"]))
    with open(args["--result"], "w", encoding="utf-8") as f:
        json.dump({"rows": []}, f)
