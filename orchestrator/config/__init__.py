"""What users write, parsed once at the edge into frozen settings: field types, target and source shapes,
the settings schema, and loading with each value's origin."""
