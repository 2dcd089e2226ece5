"""Pure job-script rendering: options in, bash text out (no I/O).

Scripts go to `sbatch` on stdin; env values and secrets go in a 0600 file that the
script sources then deletes, never into the script or onto a command line.
"""

from rv_jupyter.jobs.resources import cpus_per_task, memory_for
from rv_jupyter.jobs.script import JobSpec, render

__all__ = ["JobSpec", "cpus_per_task", "memory_for", "render"]
