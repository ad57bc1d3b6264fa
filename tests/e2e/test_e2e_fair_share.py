"""Journey: one visitor holds two long runs, and another visitor still trains within a minute.

The server's two training slots are taken workspace by workspace, one run at a time
per workspace: Alice's second run waits for her first (and says so), so Bob, who
comes later with a table of his own, gets the second slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from e2e_support import (
    choose_target,
    go_to,
    load_table,
    open_app,
    set_training,
    start_training,
    wait_for_epochs,
    workspace_token,
    write_renewals_csv,
)
from playwright.sync_api import Page, expect

from layerlab.schema.spec import MAX_EPOCHS

# Bob's first epoch is on his chart within this long of his Train click: a worker starts
# for him (TensorFlow's import, seconds) while Alice's runs hold.
BOB_SECONDS = 60
OWN_RUN_WAITS = "Waiting for your other run to finish (one run at a time per workspace"


def test_a_second_visitor_trains_while_the_first_holds_two_long_runs(
    open_user: Callable[[], Page], server, stop_at_the_end: list[Page], tmp_path: Path
) -> None:
    alice = open_user()
    stop_at_the_end.append(alice)
    # 2,400 training rows in batches of 2: an epoch takes a tenth of a second or more, so
    # her runs hold their slots for many minutes.
    load_table(alice, write_renewals_csv(tmp_path / "renewals.csv", rows=3000))
    choose_target(alice, "renewed")
    go_to(alice, "Model")
    set_training(alice, batch_size=2, epochs=MAX_EPOCHS, patience=0)
    # A second tab of her workspace, opened before her first run starts, can start another.
    alice_again = open_user()
    stop_at_the_end.insert(0, alice_again)  # stopped first: her queued run never starts
    open_app(alice_again, f"{server.url}/?ws={workspace_token(alice)}")

    go_to(alice, "Train")
    start_training(alice)
    wait_for_epochs(alice, 1)
    go_to(alice_again, "Train")
    start_training(alice_again)
    expect(alice_again.get_by_text(OWN_RUN_WAITS)).to_be_visible()
    for tab in (alice, alice_again):  # she looks at her data meanwhile; the runs go on
        go_to(tab, "Data")

    bob = open_user()  # another visitor: no address, a workspace of his own
    stop_at_the_end.append(bob)
    load_table(bob, write_renewals_csv(tmp_path / "bobs.csv", rows=120, seed=3))
    choose_target(bob, "renewed")
    go_to(bob, "Model")
    set_training(bob, batch_size=8, epochs=MAX_EPOCHS, patience=0)
    go_to(bob, "Train")
    clicked = time.monotonic()
    start_training(bob)
    wait_for_epochs(bob, 1, timeout=BOB_SECONDS)
    waited = time.monotonic() - clicked
    print(f"Bob's first epoch was on his chart {waited:.1f} s after his Train click")  # with -s
    assert waited < BOB_SECONDS

    # Meanwhile Alice's first run still trains and her second still waits for it.
    go_to(alice_again, "Train")
    expect(alice_again.get_by_text(OWN_RUN_WAITS)).to_be_visible()
    go_to(alice, "Train")
    wait_for_epochs(alice, 2)
    assert workspace_token(bob) != workspace_token(alice)
