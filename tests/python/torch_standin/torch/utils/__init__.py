"""Stand-in for torch.utils (see torch/__init__.py of the stand-in)."""
