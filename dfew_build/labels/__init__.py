"""Vote matrix of counted votes, agreement (Fleiss' kappa, Krippendorff's alpha), the single-label
subset and annotator quality."""
