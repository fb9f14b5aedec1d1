"""Bundles: a mirror's changes after a serial, carried as one tar file to a mirror that cannot reach it.

``manifest.py`` is the pure model (what a bundle holds, which member names are acceptable, whether a
bundle follows a target's serial); ``export.py`` writes a bundle from a target, ``importer.py`` checks a
bundle whole and then publishes it into another target in the crash-safe order.  See docs/DESIGN.md.
"""
