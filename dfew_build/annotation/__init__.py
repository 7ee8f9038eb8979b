"""Assignment of clips to annotators, and votes import/export."""
