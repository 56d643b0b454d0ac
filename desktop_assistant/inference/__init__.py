"""Qt-free engines behind small Protocols (chat now; speech and quantization later)."""
