"""Shared test support: the fake PyPI origin (`support.fakeorigin`) and the moto server
(`support.motoserver`)."""
