"""Grouping conversations by how long ago they were used, as chat lists do."""

from __future__ import annotations

import datetime as dt

GROUPS = ("Today", "Yesterday", "Previous 7 days", "Previous 30 days", "Older")


def date_group(timestamp: float, now: float) -> str:
    day = dt.date.fromtimestamp(timestamp)
    today = dt.date.fromtimestamp(now)
    age = (today - day).days
    if age <= 0:
        return GROUPS[0]
    if age == 1:
        return GROUPS[1]
    if age < 7:
        return GROUPS[2]
    if age < 30:
        return GROUPS[3]
    return GROUPS[4]
