"""One router per area: auth, annotate, extract, admin, and media (video by id)."""
