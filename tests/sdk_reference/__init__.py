"""Reference captures of what the official AI SDK gateway client sends for the seed examples."""
