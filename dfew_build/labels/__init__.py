"""Vote matrix, agreement (Fleiss' kappa), the single-label subset and annotator quality."""
