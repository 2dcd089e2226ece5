"""The fan-out allocator: pure decisions (request, strategies, ranking) beside the async loop."""
