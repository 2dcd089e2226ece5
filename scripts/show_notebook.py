"""Execute a notebook and print it as a terminal transcript (sources and text outputs).

Used by scripts/demo; rich outputs (tables, widgets) are shown through their text form.
"""

from __future__ import annotations

import sys

import nbformat
from nbclient import NotebookClient


def main(path: str, kernel_name: str = "python3") -> int:
    nb = nbformat.read(path, as_version=4)
    print(f"\n=== {path} (kernel: {kernel_name})")
    NotebookClient(nb, timeout=600, kernel_name=kernel_name).execute()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            print("\n" + "\n".join(f"# {line}" for line in cell.source.splitlines()))
            continue
        print("\n" + "\n".join(f">>> {line}" for line in cell.source.splitlines()))
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                print(out.text, end="")
            elif "data" in out:
                print(out.data.get("text/plain", ""))
            elif out.output_type == "error":
                print("\n".join(out.traceback))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
