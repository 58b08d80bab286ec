"""Runs: the run store, the event log and the run manager that drives the graph."""
