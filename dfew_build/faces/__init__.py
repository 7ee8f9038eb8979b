"""Face detection, protagonist tracking, alignment, temporal normalisation and storage."""
