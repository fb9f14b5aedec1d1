"""Shared test support: the fake PyPI origin (`support.fakeorigin`), the moto server (`support.motoserver`),
the one CLI runner (`support.cli`), the sandbox host helpers, and the tests of the test doubles themselves
(`support/test_*.py`, collected with the rest of the suite)."""
