"""Pure job-script rendering: options in, bash text out (no I/O).

Scripts go to `sbatch` on stdin; env values and secrets go in a 0600 file that the
script reads then deletes and hands to the payload only, never into the script, onto a
command line or into the environment Slurm stores (`envfiles` names and sweeps them).
"""

from rv_jupyter.jobs.resources import cpus_per_task, memory_for
from rv_jupyter.jobs.script import JobSpec, render

__all__ = ["JobSpec", "cpus_per_task", "memory_for", "render"]
