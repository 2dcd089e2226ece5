"""Where a connection to a job's port may go on a shared node (port_choice.py)."""

from __future__ import annotations

import pytest

from rv_jupyter.errors import PortClosed
from rv_jupyter.remote.port_choice import Target, choose_target

NODE = "10.213.0.20"


@pytest.mark.parametrize(
    ("ours", "others", "target"),
    [
        (["0.0.0.0"], [], Target(NODE, via_node=False)),
        ([NODE], [], Target(NODE, via_node=False)),
        (["::"], [], Target(NODE, via_node=False)),
        (["::ffff:10.213.0.20"], [], Target(NODE, via_node=False)),
        (["127.0.0.1"], [], Target("127.0.0.1", via_node=True)),
        # The neighbour on the node's address, ours on its loopback: never theirs.
        (["127.0.0.1"], [NODE], Target("127.0.0.1", via_node=True)),
        ([NODE], ["127.0.0.1"], Target(NODE, via_node=False)),
        # Ours bound to another of the node's addresses only.
        (["10.9.0.5"], [NODE], Target("10.9.0.5", via_node=False)),
        # Our IPv6 wildcard (IPv6-only, or theirs could not be bound), their IPv4 one: an
        # IPv4 connection would be theirs, except to the loopback ours holds exactly.
        (["::", "127.0.0.1"], ["0.0.0.0"], Target("127.0.0.1", via_node=True)),
    ],
)
def test_a_connection_goes_only_where_the_job_listens(ours, others, target) -> None:  # type: ignore[no-untyped-def]
    assert choose_target("7", 8888, ours, others, NODE) == target


def test_without_a_usable_node_address_the_loopback_is_used() -> None:
    for node_addr in (None, "127.0.1.1", "fe80::1"):
        assert choose_target("7", 80, ["0.0.0.0"], [], node_addr) == Target("127.0.0.1", True)


def test_nothing_of_the_jobs_on_the_port_is_refused_whoever_else_listens() -> None:
    for others in ([], [NODE], ["0.0.0.0"]):
        with pytest.raises(PortClosed, match="Job 7 has nothing listening on port 6006"):
            choose_target("7", 6006, [], others, NODE)


def test_an_address_that_could_reach_another_program_is_refused() -> None:
    with pytest.raises(PortClosed, match=r"(?s)only at ::1.*Bind the server to 127.0.0.1"):
        choose_target("7", 6006, ["::1"], ["127.0.0.1"], NODE)
    with pytest.raises(PortClosed, match="only at ::"):
        choose_target("7", 6006, ["::"], ["0.0.0.0", "127.0.0.1"], NODE)
