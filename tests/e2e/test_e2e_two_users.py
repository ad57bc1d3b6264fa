"""Journey 4: two people train at the same time on one server and never see each other's work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from e2e_support import (
    button,
    choose_target,
    go_to,
    load_sample,
    load_table,
    main_text,
    set_training,
    sidebar_text,
    start_training,
    wait_for_training,
    write_renewals_csv,
)
from playwright.sync_api import Page, expect

RENEWALS = ("renewals.csv", "renewed", "binary classification")
DIABETES = ("diabetes.csv", "disease_progression", "(regression)")


def test_two_users_train_side_by_side_without_seeing_each_other(
    open_user: Callable[[], Page], tmp_path: Path
) -> None:
    alice, bob = open_user(), open_user()
    load_table(alice, write_renewals_csv(tmp_path / "renewals.csv"))
    choose_target(alice, "renewed")
    load_sample(bob, "Diabetes")  # the sample comes with its target chosen
    for user in (alice, bob):
        go_to(user, "Model")
        # One plain network each: the journey is about two users apart, not the recipe.
        set_training(user, batch_size=8, epochs=60, patience=0, ensemble=1, refit=False)
        go_to(user, "Train")

    start_training(alice)
    start_training(bob)
    expect(button(alice, "stop_button")).to_be_enabled()  # both runs are under way at once
    wait_for_training(alice)
    wait_for_training(bob)

    for user, own, other in ((alice, RENEWALS, DIABETES), (bob, DIABETES, RENEWALS)):
        expect(user.get_by_text("Training ran all 60 epochs")).to_be_visible()
        sidebar = sidebar_text(user)
        assert all(word in sidebar for word in own), sidebar
        assert not any(word in sidebar for word in other), sidebar
        assert not any(word in main_text(user) for word in other[:2])

    go_to(alice, "Results")
    go_to(bob, "Results")
    alice_results, bob_results = main_text(alice), main_text(bob)
    assert "The network's accuracy on the test set" in alice_results
    assert "output sigmoid" in alice_results
    assert "The network's mean absolute error on the test set" in bob_results
    assert "output linear" in bob_results
    assert "disease_progression" not in alice_results
    assert "renewed" not in bob_results
