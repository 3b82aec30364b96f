"""Alert rules evaluated on the pipeline's results (no UI imports)."""
