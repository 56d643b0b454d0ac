"""Model management: the catalog, the hub (the only network door), downloads, importing, the
registry of installed models, folder checks and the memory check. Nothing here imports torch
at import time; engines (torch) are in `inference/`."""
