"""One module per step of the release; each node is `(state, runtime) -> partial update`."""
