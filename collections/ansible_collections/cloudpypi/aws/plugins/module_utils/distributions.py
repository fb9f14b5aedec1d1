# Copyright: CloudPyPI contributors
# Apache-2.0
"""Finding the mirror's CloudFront distribution by its Comment (shared by the manage and info modules)."""

from __future__ import annotations


class DistributionError(Exception):
    """An operator-actionable problem (e.g. two distributions share the comment)."""


def find(client, comment):
    """The summary of the distribution whose Comment is ``comment``, or None."""
    matches = []
    marker = None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        page = client.list_distributions(**kwargs).get("DistributionList", {})
        matches.extend(item for item in page.get("Items") or [] if item.get("Comment") == comment)
        marker = page.get("NextMarker")
        if not marker:
            break
    if len(matches) > 1:
        ids = ", ".join(item["Id"] for item in matches)
        raise DistributionError(
            f"{len(matches)} distributions have the comment {comment!r} ({ids}); "
            "give them distinct comments so this module can tell them apart"
        )
    return matches[0] if matches else None
