"""What exists: declarative dataset entries (data, not code) and the generated catalog docs."""
