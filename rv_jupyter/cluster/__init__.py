"""The cluster handle and what it owns: the SSH session's background loop, the
shared poller, port forwards and first-run onboarding."""
