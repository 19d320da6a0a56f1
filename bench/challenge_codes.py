"""How often the challenge-code reader reads a fresh random code (issue: the review
workflow's challenge photo): ``python bench/challenge_codes.py [count]``.

Each code is drawn by the test suite's own generator (a sheet at an angle beside the item,
uneven light, noise; ``tests/evidence/checks/test_challenge_code.challenge_photo``), saved
as JPEG q90, decoded as an upload is, and read by ``read_code``; a code counts as read
when the reading is within one character, as the check's ``challenge_code_read``. Prints
each code, then the misses."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import django_setup  # noqa: E402


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    django_setup()
    from evidence.checks.challenge_code import new_code, read_code
    from evidence.imaging import decode
    from tests.evidence.checks.test_challenge_code import challenge_photo
    from tests.evidence.images import jpeg_bytes

    missed = []
    for _ in range(count):
        code = new_code()
        started = time.process_time()
        found = read_code(decode(jpeg_bytes(challenge_photo(code))).working, code)
        read = found is not None and found[2] <= 1
        print(code, "read" if read else "MISSED", found, f"{time.process_time() - started:.2f} s")
        if not read:
            missed.append(code)
    print(f"read {count - len(missed)} of {count}; missed: {' '.join(missed) or 'none'}")


if __name__ == "__main__":
    main()
