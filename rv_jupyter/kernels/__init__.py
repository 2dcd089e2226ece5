"""Remote Jupyter kernels in Slurm jobs: the provisioner, its tunnel, the node agent,
and the kernelspecs that use them."""
