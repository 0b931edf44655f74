#!/usr/bin/env python3
"""Execute notebooks top to bottom on the univg TypeScript kernel (tslab), headless, with nbclient.

    python3 notebooks/run.py [--write] notebooks/*.ipynb

The kernel reads the run named by $UNIVG_RUN (default runs/demo, made by the demo pipeline when missing).
On the first cell that fails it prints the notebook, the cell's number and first line, and the error,
and exits 1. --write saves each executed notebook in place, with its outputs (how the committed outputs
are made): no timings or kernel ids are recorded, so the same run gives the same file.
"""
import os
import re
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = os.path.dirname(os.path.abspath(__file__))


def execute(path, write):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="univg-ts", record_timing=False, resources={"metadata": {"path": HERE}})
    with client.setup_kernel():
        code = 0
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            code += 1
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as err:
                first = (cell.source.strip().splitlines() or [""])[0]
                # tslab reports "<Error>:" as the error and writes the message and stack to stderr.
                streams = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr")
                lines = [l.strip() for l in streams.splitlines() if l.strip()]
                named = [l for l in lines if re.match(r"^\w*Error\b|^\d+:\d+ - ", l)]
                detail = (named or lines or [str(err).strip().splitlines()[-1]])[0]
                print(f"{path}: code cell {code} (`{first}`) failed: {detail}\n{streams}", file=sys.stderr)
                return False
            # tslab leaves execution_count empty; the cells ran in this order, so number them so.
            cell.execution_count = code
    nb.metadata.pop("widgets", None)
    if write:
        nbformat.write(nb, path)
    print(f"{path}: {code} code cells ran", file=sys.stderr)
    return True


def main(argv):
    write = "--write" in argv
    paths = [a for a in argv if a != "--write"]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    # The kernel spec ships with the notebooks (kernels/univg-ts), not in the user's Jupyter directories.
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in [HERE, os.environ.get("JUPYTER_PATH", "")] if p)
    ok = True
    for path in paths:
        ok = execute(path, write) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
