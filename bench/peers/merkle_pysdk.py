"""Merkle root with the official Python SDK (0g-storage-sdk), run inside its own venv.

python merkle_pysdk.py <path> <repeat>: prints {"seconds": [...], "root": "0x.."}.
"""

import json
import sys
import time

from core.file import ZgFile  # type: ignore[import-not-found]  # only in the peer venv


def main() -> None:
    path, repeat = sys.argv[1], int(sys.argv[2])
    seconds, root = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        file = ZgFile.from_file_path(path)
        tree, error = file.merkle_tree()
        file.close()
        if error is not None:
            raise error
        root = tree.root_hash()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds, "root": root}))


if __name__ == "__main__":
    main()
