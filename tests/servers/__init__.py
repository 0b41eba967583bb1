"""Protocol-faithful test servers for backends without a local engine."""
