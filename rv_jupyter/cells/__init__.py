"""The two ways a cell runs: inside an allocation (`in_allocation`) or as its own
batch job (`batch_job`)."""
